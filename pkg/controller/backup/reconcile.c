/* backup/reconcile.c - the BackupPolicy controller (see reconcile.h). */
#include "controller/backup/reconcile.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/backup.h"
#include "controller/backup/audit.h"
#include "controller/backup/drill.h"
#include "controller/backup/policy.h"
#include "controller/backup/target.h"
#include "kube/statuswriter.h"
#include "util/error.h"
#include "util/log.h"

#define API_GROUP_V "lifeboat.dev"
#define API_VER     "v1alpha1"

static int backup_reconcile(ctrl_result *out, const ctrl_env *env, const json_t *obj);

/* What the cache keeps of a BackupPolicy: identity, and the fields whose change
 * must reach a reconcile (an event that changes nothing kept queues nothing:
 * manager.c): the spec by its generation, backup-now. backup_reconcile() GETs
 * the policy before it reads anything else. */
static const char *const backup_keep[] = {CTRL_KEEP_IDENTITY,
                                          "/metadata/annotations/lifeboat.dev~1backup-now", NULL};

const ctrl_kind ctrl_kind_backup = {
    .controller = "backup",
    .kind = "BackupPolicy",
    .resource = "backuppolicies",
    .has_phase = 0,
    .desired = backup_desired_status,
    .run = backup_reconcile,
    .keep = backup_keep,
};

int backup_metrics_init(backup_metrics *out, metrics_registry *reg)
{
    static const char *const pt[] = {"policy", "target"};
    static const char *const ptr[] = {"policy", "target", "reason"};
    static const char *const p[] = {"policy"};
    return metrics_gauge_new(&out->last_success, reg,
                             "lifeboat_backup_last_success_timestamp_seconds",
                             "Unix time of the newest good backup of a BackupPolicy target.", pt,
                             2)
               ?: metrics_counter_new(&out->failures, reg, "lifeboat_backup_failures_total",
                                      "Backups that failed or were suspicious (empty, shrank).",
                                      ptr, 3)
               ?: metrics_gauge_new(&out->stale, reg, "lifeboat_backup_stale",
                                    "1 when a target's newest good backup is older than staleAfter.",
                                    p, 1)
               ?: metrics_gauge_new(&out->drift, reg, "lifeboat_backup_config_drift",
                                    "1 when the audit found settings that differ from spec.audit.",
                                    p, 1);
}

int backup_desired_status(json_t *status, const json_t *obj, lb_time now)
{
    int64_t gen = ctrl_generation(obj);
    const json_t *spec = json_object_get(obj, "spec");
    json_t *empty = json_object();
    api_errors errs = {0};
    api_backup_spec *parsed = NULL;
    char *joined = NULL;

    if (api_backup_parse(&parsed, &errs, spec != NULL ? spec : empty, now) != 0) {
        joined = api_errors_join(&errs);
        ctrl_set_invalid(status, joined[0] != '\0' ? joined : lb_error_last(), gen, now);
    } else {
        ctrl_set_valid(status, gen, now);
    }
    json_object_set_new(status, "observedGeneration", json_integer(gen));
    api_errors_dispose(&errs);
    api_backup_free(parsed);
    json_decref(empty);
    free(joined);
    return 0;
}

/* ---- one reconcile's state --------------------------------------------------- */

typedef struct bevent {
    const char *type;
    char reason[64];
    char message[CTRL_MAX_EVENT_MESSAGE];
} bevent;

typedef struct brun {
    const ctrl_env *env;
    const json_t *obj;
    json_t *st; /* the status being built (owned) */
    api_backup_spec *spec;
    lb_time now;
    int64_t requeue_ms;
    bevent events[BACKUP_MAX_EVENTS];
    size_t n_events;
    char policy[320]; /* ns/name: metric label */
} brun;

static const char *md(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
    return s != NULL ? s : "";
}

static void event(brun *r, const char *type, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void event(brun *r, const char *type, const char *reason, const char *fmt, ...)
{
    va_list ap;
    if (r->n_events >= BACKUP_MAX_EVENTS)
        return;
    bevent *e = &r->events[r->n_events++];
    e->type = type;
    snprintf(e->reason, sizeof(e->reason), "%s", reason);
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

static void requeue_at(brun *r, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    if (r->requeue_ms < 0 || ms < r->requeue_ms)
        r->requeue_ms = ms;
}

static void set_time(json_t *o, const char *key, lb_time t)
{
    char buf[LB_TIME_RFC3339_MAX];
    lb_time_format(buf, sizeof(buf), (lb_time){t.sec, 0}, 0);
    json_object_set_new(o, key, json_string(buf));
}

static int64_t get_time(const json_t *o, const char *key)
{
    lb_time t;
    const char *s = json_string_value(json_object_get(o, key));
    if (s == NULL || lb_time_parse_rfc3339(&t, s) != 0)
        return 0;
    return t.sec;
}

/* status.targets[name], created when missing; borrowed. */
static json_t *target_status(json_t *st, const char *name)
{
    json_t *arr = json_object_get(st, "targets"), *t;
    size_t i;
    if (!json_is_array(arr)) {
        arr = json_array();
        json_object_set_new(st, "targets", arr);
    }
    json_array_foreach(arr, i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "name")) ?: "", name) == 0)
            return t;
    }
    t = json_pack("{s:s}", "name", name);
    json_array_append_new(arr, t);
    return t;
}

static const api_backup_target *spec_target(const api_backup_spec *s, const char *name)
{
    for (size_t i = 0; i < s->n_targets; i++)
        if (strcmp(s->targets[i].name, name) == 0)
            return &s->targets[i];
    return NULL;
}

/* ---- starting a run ------------------------------------------------------------ */

static void start_run(brun *r, const char *trigger, int64_t tick, const char *token)
{
    json_t *run = json_object(), *targets = json_array();
    char stamp[32];
    struct tm tm;
    time_t t = (time_t)r->now.sec;
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
    json_object_set_new(run, "trigger", json_string(trigger));
    if (tick != 0)
        set_time(run, "tick", (lb_time){tick, 0});
    if (token != NULL)
        json_object_set_new(run, "token", json_string(token));
    set_time(run, "startedAt", r->now);
    json_object_set_new(run, "stamp", json_string(stamp));
    for (size_t i = 0; i < r->spec->n_targets; i++)
        json_array_append_new(
            targets, json_pack("{s:s, s:s}", "name", r->spec->targets[i].name, "phase", "Pending"));
    json_object_set_new(run, "targets", targets);
    json_object_set_new(r->st, "run", run);
    event(r, "Normal", "BackupStarted", "backup run started (%s%s%s)", trigger,
          token ? " token " : "", token ? token : "");
    requeue_at(r, 0);
}

static void append_history(brun *r, json_t *entry)
{
    json_t *h = json_object_get(r->st, "history");
    if (!json_is_array(h)) {
        h = json_array();
        json_object_set_new(r->st, "history", h);
    }
    json_array_append_new(h, entry);
    while (json_array_size(h) > BACKUP_HISTORY_MAX)
        json_array_remove(h, 0);
}

/* Starts a run when a token or a tick is due; sets nextScheduleTime. */
static int maybe_start(brun *r)
{
    const char *token = json_string_value(
        json_object_get(json_object_get(json_object_get(r->obj, "metadata"), "annotations"),
                        BACKUP_NOW_ANNOTATION));
    const char *done = json_string_value(json_object_get(r->st, "lastBackupNowToken"));
    int64_t base, due = 0, next = 0;
    int rc;

    if (r->spec->suspend) {
        json_object_del(r->st, "nextScheduleTime");
    } else {
        base = get_time(r->st, "lastScheduleTime");
        if (base == 0)
            base = get_time(json_object_get(r->obj, "metadata"), "creationTimestamp");
        rc = backup_schedule_due(&due, &next, &r->spec->schedule, r->spec->tz, base, r->now.sec);
        if (rc != 0)
            return rc;
        if (next != 0) {
            set_time(r->st, "nextScheduleTime", (lb_time){next, 0});
            requeue_at(r, (next - r->now.sec) * 1000 + 50);
        }
    }
    if (token != NULL && token[0] != '\0' && (done == NULL || strcmp(done, token) != 0)) {
        json_object_set_new(r->st, "lastBackupNowToken", json_string(token));
        start_run(r, "backup-now", 0, token);
        return 0;
    }
    if (due == 0)
        return 0;
    const json_t *dl = json_object_get(r->spec->json, "startingDeadlineSeconds");
    set_time(r->st, "lastScheduleTime", (lb_time){due, 0});
    if (json_is_integer(dl) && r->now.sec - due > json_integer_value(dl)) {
        char when[LB_TIME_RFC3339_MAX];
        json_t *h =
            json_pack("{s:s, s:s, s:s}", "phase", "Skipped", "trigger", "schedule", "message", "");
        lb_time_format(when, sizeof(when), (lb_time){due, 0}, 0);
        json_object_set_new(h, "message",
                            json_sprintf("tick %s found %llds late, past startingDeadlineSeconds "
                                         "%lld: skipped",
                                         when, (long long)(r->now.sec - due),
                                         (long long)json_integer_value(dl)));
        set_time(h, "time", r->now);
        set_time(h, "tick", (lb_time){due, 0});
        event(r, "Warning", "MissedSchedule", "%s",
              json_string_value(json_object_get(h, "message")));
        append_history(r, h);
        return 0;
    }
    start_run(r, "schedule", due, NULL);
    return 0;
}

/* ---- advancing a run ----------------------------------------------------------- */

static void fail_metric(brun *r, const char *target, const char *reason)
{
    if (r->env->backup_metrics != NULL)
        metrics_counter_inc(r->env->backup_metrics->failures,
                            (const char *const[]){r->policy, target, reason});
}

static void record_done(brun *r, json_t *rt, const backup_target_result *res)
{
    const char *name = json_string_value(json_object_get(rt, "name"));
    json_t *ts = target_status(r->st, name), *good = json_object_get(ts, "lastGood");
    backup_measure cur = {res->size_bytes, res->count, res->has_manifest}, prev;
    char why[512];
    const char *ckey = NULL;
    const api_backup_target *t = spec_target(r->spec, name);

    if (t != NULL && t->kind == API_BACKUP_PG_DUMP)
        ckey = "rows";
    else if (t != NULL && t->kind == API_BACKUP_REDIS_RDB)
        ckey = "keys";
    if (good != NULL) {
        json_t *sz = json_object_get(good, "sizeBytes"),
               *cn = ckey ? json_object_get(good, ckey) : NULL;
        prev.size_bytes = json_is_integer(sz) ? json_integer_value(sz) : -1;
        prev.count = json_is_integer(cn) ? json_integer_value(cn) : -1;
        prev.has_manifest = -1;
    }
    backup_verdict v = backup_judge(why, sizeof(why), &cur, good != NULL ? &prev : NULL);
    json_t *lb = json_pack("{s:s, s:s}", "id", res->id, "location", res->location);
    json_object_set_new(lb, "time", json_string(res->time[0] ? res->time : ""));
    if (res->time[0] == '\0')
        set_time(lb, "time", r->now);
    if (res->size_bytes >= 0)
        json_object_set_new(lb, "sizeBytes", json_integer(res->size_bytes));
    if (res->sha256[0] != '\0')
        json_object_set_new(lb, "sha256", json_string(res->sha256));
    if (ckey != NULL && res->count >= 0)
        json_object_set_new(lb, ckey, json_integer(res->count));
    json_object_set_new(rt, "id", json_string(res->id));
    if (v == BACKUP_GOOD) {
        json_t *g = json_deep_copy(lb);
        json_object_del(g, "location");
        json_object_del(g, "sha256");
        json_object_set_new(ts, "lastGood", g);
        set_time(ts, "lastSuccessTime", r->now);
        json_object_del(ts, "lastError");
        json_object_set_new(rt, "phase", json_string("Succeeded"));
        json_object_set_new(rt, "message", json_string(res->message));
    } else {
        json_object_set_new(lb, "suspicious", json_string(why));
        json_object_set_new(ts, "lastError", json_string(why));
        json_object_set_new(rt, "phase", json_string(v == BACKUP_BAD ? "Failed" : "Suspicious"));
        json_object_set_new(rt, "message", json_string(why));
        event(r, "Warning", v == BACKUP_BAD ? "BackupFailed" : "BackupSuspicious",
              "target %s: %s (%s)", name, why, res->id);
        fail_metric(r, name, v == BACKUP_BAD ? "BackupFailed" : "BackupSuspicious");
    }
    json_object_set_new(ts, "lastBackup", lb);
}

static void record_failed(brun *r, json_t *rt, const char *reason, const char *msg)
{
    const char *name = json_string_value(json_object_get(rt, "name"));
    json_t *ts = target_status(r->st, name);
    json_object_set_new(rt, "phase", json_string("Failed"));
    json_object_set_new(rt, "message", json_sprintf("%s: %s", reason, msg));
    json_object_set_new(ts, "lastError", json_sprintf("%s: %s", reason, msg));
    event(r, "Warning", "BackupFailed", "target %s: %s: %s", name, reason, msg);
    fail_metric(r, name, reason);
}

static int audit_now(brun *r)
{
    json_t *drift = NULL;
    int rc = backup_audit(&drift, r->env->client, r->env->aws, md(r->obj, "namespace"), r->spec);
    if (rc != 0)
        return rc;
    set_time(r->st, "lastAuditTime", r->now);
    if (json_object_get(r->spec->json, "audit") == NULL) {
        json_object_del(r->st, "drift");
        json_decref(drift);
        return 0;
    }
    json_object_set_new(r->st, "drift", drift);
    return 0;
}

static int finish_run(brun *r, json_t *run)
{
    json_t *entry = json_object(), *targets = json_array(), *rt;
    size_t i, ok = 0, failed = 0, susp = 0;
    const char *phase;

    json_array_foreach(json_object_get(run, "targets"), i, rt)
    {
        const char *p = json_string_value(json_object_get(rt, "phase")) ?: "Failed";
        const char *name = json_string_value(json_object_get(rt, "name")) ?: "";
        const api_backup_target *t = spec_target(r->spec, name);
        json_t *e = json_pack("{s:s, s:s}", "name", name, "phase", p);
        if (json_object_get(rt, "id"))
            json_object_set(e, "id", json_object_get(rt, "id"));
        if (strcmp(p, "Succeeded") != 0 && json_object_get(rt, "message"))
            json_object_set(e, "message", json_object_get(rt, "message"));
        json_array_append_new(targets, e);
        ok += strcmp(p, "Succeeded") == 0;
        susp += strcmp(p, "Suspicious") == 0;
        failed += strcmp(p, "Failed") == 0;
        if (t != NULL && strcmp(p, "Succeeded") == 0 && r->env->aws != NULL) {
            char msg[1024];
            int deleted = 0;
            backup_target_ctx tc = {.kube = r->env->client,
                                    .aws = r->env->aws,
                                    .bp = r->obj,
                                    .target = t,
                                    .stamp = "",
                                    .now = r->now};
            int rc = backup_target_retention(&deleted, msg, sizeof(msg), &tc, r->spec,
                                             json_string_value(json_object_get(rt, "id")));
            if (rc != 0)
                event(r, "Warning", "RetentionFailed", "target %s: %s", name, lb_error_last());
            else if (deleted > 0)
                event(r, "Normal", "RetentionDeleted", "target %s: %s", name, msg);
        }
    }
    phase = failed + susp == 0       ? "Succeeded"
            : ok == 0 && susp == 0   ? "Failed"
            : failed == 0 && ok == 0 ? "Suspicious"
                                     : "PartiallyFailed";
    json_object_set(entry, "time", json_object_get(run, "startedAt"));
    set_time(entry, "finishedAt", r->now);
    json_object_set_new(entry, "phase", json_string(phase));
    json_object_set(entry, "trigger", json_object_get(run, "trigger"));
    if (json_object_get(run, "tick"))
        json_object_set(entry, "tick", json_object_get(run, "tick"));
    if (json_object_get(run, "token"))
        json_object_set(entry, "token", json_object_get(run, "token"));
    json_object_set_new(entry, "targets", targets);
    append_history(r, entry);
    if (strcmp(phase, "Succeeded") == 0)
        set_time(r->st, "lastSuccessfulTime", r->now);
    event(r, strcmp(phase, "Succeeded") == 0 ? "Normal" : "Warning", "BackupFinished",
          "backup run finished: %s (%zu good, %zu suspicious, %zu failed)", phase, ok, susp,
          failed);
    json_object_del(r->st, "run");
    requeue_at(r, 0);
    if (audit_now(r) != 0)
        LB_LOG_WARN("audit failed; retried later", "controller", "backup", "error",
                    lb_error_last());
    return 0;
}

static int advance_run(brun *r)
{
    json_t *run = json_object_get(r->st, "run"), *rt = NULL, *it;
    size_t i;

    json_array_foreach(json_object_get(run, "targets"), i, it)
    {
        const char *p = json_string_value(json_object_get(it, "phase")) ?: "";
        if (strcmp(p, "Pending") == 0 || strcmp(p, "Running") == 0) {
            rt = it;
            break;
        }
    }
    if (rt == NULL)
        return finish_run(r, run);
    const char *name = json_string_value(json_object_get(rt, "name")) ?: "";
    const api_backup_target *t = spec_target(r->spec, name);
    if (t == NULL) { /* removed from the spec during the run */
        record_failed(r, rt, "TargetRemoved", "the target is no longer in the spec");
        requeue_at(r, 0);
        return 0;
    }
    if (strcmp(json_string_value(json_object_get(rt, "phase")), "Pending") == 0) {
        /* persisted before the first call (crash safety) */
        json_object_set_new(rt, "phase", json_string("Running"));
        set_time(rt, "startedAt", r->now);
        requeue_at(r, 0);
        return 0;
    }
    int64_t started = get_time(rt, "startedAt");
    if (started != 0 && r->now.sec - started > BACKUP_TARGET_DEADLINE_S) {
        record_failed(r, rt, "DeadlineExceeded",
                      "the target's backup did not finish within its deadline; "
                      "the last state was recorded in the run's message");
        requeue_at(r, 0);
        return 0;
    }
    backup_target_result res;
    backup_target_ctx tc = {.kube = r->env->client,
                            .aws = r->env->aws,
                            .bp = r->obj,
                            .target = t,
                            .stamp = json_string_value(json_object_get(run, "stamp")) ?: "0",
                            .now = r->now};
    int rc = backup_target_run(&res, &tc);
    if (rc != 0) {
        json_int_t attempts = json_integer_value(json_object_get(rt, "attempts")) + 1;
        json_object_set_new(rt, "attempts", json_integer(attempts));
        json_object_set_new(rt, "message", json_string(lb_error_last()));
        if (attempts >= BACKUP_MAX_ATTEMPTS)
            record_failed(r, rt, "RetriesExhausted", lb_error_last());
        requeue_at(r, attempts >= BACKUP_MAX_ATTEMPTS ? 0 : 2000 * attempts);
        return 0;
    }
    switch (res.verdict) {
    case BACKUP_TARGET_WAIT:
        json_object_set_new(rt, "message", json_string(res.message));
        requeue_at(r, res.requeue_ms);
        break;
    case BACKUP_TARGET_FAILED:
        record_failed(r, rt, res.reason, res.message);
        requeue_at(r, 0);
        break;
    case BACKUP_TARGET_DONE:
        record_done(r, rt, &res);
        requeue_at(r, 0);
        break;
    }
    return 0;
}

/* ---- health: staleness, drift, ready, metrics ----------------------------------- */

static void health(brun *r)
{
    int64_t gen = ctrl_generation(r->obj);
    int64_t created = get_time(json_object_get(r->obj, "metadata"), "creationTimestamp");
    char msg[2048];
    size_t off = 0;
    int stale = 0;

    for (size_t i = 0; i < r->spec->n_targets; i++) {
        const char *name = r->spec->targets[i].name;
        json_t *ts = target_status(r->st, name);
        int64_t last = get_time(ts, "lastSuccessTime");
        if (last != 0 && r->env->backup_metrics != NULL)
            metrics_gauge_set(r->env->backup_metrics->last_success,
                              (const char *const[]){r->policy, name}, (double)last);
        if (r->spec->stale_after_sec < 0)
            continue;
        int64_t since = last != 0 ? last : created;
        int64_t age = r->now.sec - since;
        if (age > r->spec->stale_after_sec) {
            int w = snprintf(msg + off, sizeof(msg) - off,
                             "%starget %s: %s %lldm old (staleAfter %llds)", stale ? "; " : "",
                             name, last != 0 ? "last good backup" : "no good backup yet; policy",
                             (long long)(age / 60), (long long)r->spec->stale_after_sec);
            if (w > 0 && off + (size_t)w < sizeof(msg))
                off += (size_t)w;
            stale++;
            requeue_at(r, (60 - age % 60) * 1000); /* the age in the message moves by minutes */
        } else {
            requeue_at(r, (r->spec->stale_after_sec - age + 1) * 1000);
        }
    }
    if (r->spec->stale_after_sec < 0)
        api_condition_set(r->st, "BackupStale", "False", "NotConfigured", "staleAfter is not set",
                          gen, r->now);
    else if (stale)
        api_condition_set(r->st, "BackupStale", "True", "StaleBackup", msg, gen, r->now);
    else
        api_condition_set(r->st, "BackupStale", "False", "Fresh",
                          "every target has a good backup within staleAfter", gen, r->now);
    const json_t *drift = json_object_get(r->st, "drift");
    if (json_array_size(drift) > 0) {
        size_t i, doff = 0;
        const json_t *d;
        char dm[4096];
        dm[0] = '\0';
        json_array_foreach(drift, i, d)
        {
            int w =
                snprintf(dm + doff, sizeof(dm) - doff, "%s%s", i ? "; " : "", json_string_value(d));
            if (w > 0 && doff + (size_t)w < sizeof(dm))
                doff += (size_t)w;
        }
        api_condition_set(r->st, "ConfigDrift", "True", "SettingsDiffer", dm, gen, r->now);
    } else if (json_object_get(r->spec->json, "audit") != NULL &&
               json_object_get(r->st, "lastAuditTime") != NULL) {
        api_condition_set(r->st, "ConfigDrift", "False", "AsExpected",
                          "every audited setting is as expected", gen, r->now);
    }
    const json_t *h = json_object_get(r->st, "history");
    const json_t *lastrun = NULL;
    for (size_t i = json_array_size(h); i > 0 && lastrun == NULL; i--) {
        const char *p = json_string_value(json_object_get(json_array_get(h, i - 1), "phase"));
        if (p != NULL && strcmp(p, "Skipped") != 0)
            lastrun = json_array_get(h, i - 1);
    }
    const char *lp = json_string_value(json_object_get(lastrun, "phase"));
    if (lastrun == NULL)
        api_condition_set(r->st, "Ready", "Unknown", "NoRunYet", "no backup run has finished yet",
                          gen, r->now);
    else if (strcmp(lp, "Succeeded") != 0)
        api_condition_set(r->st, "Ready", "False", "LastRunNotGood",
                          "the last backup run was not good: see status.history", gen, r->now);
    else if (stale)
        api_condition_set(r->st, "Ready", "False", "StaleBackup", msg, gen, r->now);
    else
        api_condition_set(r->st, "Ready", "True", "BackupsGood", "the last backup run succeeded",
                          gen, r->now);
    if (r->env->backup_metrics != NULL) {
        metrics_gauge_set(r->env->backup_metrics->stale, (const char *const[]){r->policy},
                          stale ? 1 : 0);
        metrics_gauge_set(r->env->backup_metrics->drift, (const char *const[]){r->policy},
                          json_array_size(drift) > 0 ? 1 : 0);
    }
}

/* ---- the reconcile ------------------------------------------------------------- */

static int put_status(json_t *status, const json_t *obj, void *payload)
{
    json_object_clear(status);
    if (json_object_update(status, (json_t *)payload) != 0)
        return LB_ERROR;
    return ctrl_health_set(status, obj);
}

static int backup_reconcile(ctrl_result *out, const ctrl_env *env, const json_t *obj)
{
    kube_ref ref = {.group = API_GROUP_V,
                    .version = API_VER,
                    .resource = "backuppolicies",
                    .namespace = md(obj, "namespace"),
                    .name = md(obj, "name")};
    brun r = {.env = env, .now = lb_time_now(), .requeue_ms = -1};
    json_t *cur = NULL, *written = NULL;
    api_errors errs = {0};
    int wrote = 0, rc;

    out->outcome = CTRL_UNCHANGED;
    out->requeue_ms = -1;
    /* the cache may be behind our own last write: act on the server's state */
    rc = kube_get(&cur, env->client, &ref);
    if (rc == LB_ENOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    r.obj = cur;
    snprintf(r.policy, sizeof(r.policy), "%s/%s", ref.namespace, ref.name);
    r.st = json_deep_copy(json_object_get(cur, "status"));
    if (!json_is_object(r.st)) {
        json_decref(r.st);
        r.st = json_object();
    }
    const json_t *spec = json_object_get(cur, "spec");
    json_t *empty = json_object();
    rc = api_backup_parse(&r.spec, &errs, spec != NULL ? spec : empty, r.now);
    json_decref(empty);
    if (rc != 0) {
        char *joined = api_errors_join(&errs);
        ctrl_set_invalid(r.st, joined[0] != '\0' ? joined : lb_error_last(), ctrl_generation(cur),
                         r.now);
        free(joined);
        r.spec = NULL;
        rc = 0;
    } else {
        ctrl_set_valid(r.st, ctrl_generation(cur), r.now);
        if (json_object_get(r.st, "run") != NULL)
            rc = advance_run(&r);
        else
            rc = maybe_start(&r);
        if (rc == 0 && json_object_get(r.st, "run") == NULL && env->aws != NULL &&
            json_object_get(r.spec->json, "audit") != NULL) {
            int64_t last = get_time(r.st, "lastAuditTime");
            int64_t obs = json_integer_value(json_object_get(r.st, "observedGeneration"));
            if (last == 0 || r.now.sec - last >= BACKUP_AUDIT_INTERVAL_S ||
                obs != ctrl_generation(cur)) {
                if (audit_now(&r) != 0)
                    LB_LOG_WARN("audit failed; retried later", "controller", "backup", "object",
                                r.policy, "error", lb_error_last());
            }
            requeue_at(&r,
                       (BACKUP_AUDIT_INTERVAL_S - (r.now.sec - get_time(r.st, "lastAuditTime"))) *
                               1000 +
                           50);
        }
        if (rc == 0 && r.spec->has_verification && !r.spec->suspend) {
            int64_t dms = -1;
            int created = 0;
            int drc = backup_drill(&dms, &created, r.st, env->client, cur, r.spec, r.now);
            if (drc != 0)
                LB_LOG_WARN("drill not scheduled; retried", "controller", "backup", "object",
                            r.policy, "error", lb_error_last());
            else if (created)
                event(&r, "Normal", "DrillCreated", "VerificationRun %s created",
                      json_string_value(
                          json_object_get(json_object_get(r.st, "lastVerification"), "name")));
            if (drc != 0 || dms >= 0)
                requeue_at(&r, drc != 0 ? 5000 : dms);
        }
        if (rc == 0)
            health(&r);
    }
    json_object_set_new(r.st, "observedGeneration", json_integer(ctrl_generation(cur)));
    if (rc != 0)
        goto done;
    rc = kube_status_update(&written, &wrote, env->client, &ref, cur, put_status, r.st, 0);
    if (rc != 0)
        goto done;
    out->outcome = wrote ? CTRL_WRITTEN : CTRL_UNCHANGED;
    out->requeue_ms = r.requeue_ms;
    if (wrote)
        snprintf(out->resource_version, sizeof(out->resource_version), "%s",
                 md(written, "resourceVersion"));
    for (size_t i = 0; i < r.n_events; i++) {
        bevent *e = &r.events[i];
        if (strcmp(e->type, "Warning") == 0)
            LB_LOG_WARN(e->message, "controller", "backup", "object", r.policy, "reason",
                        e->reason);
        else
            LB_LOG_INFO(e->message, "controller", "backup", "object", r.policy, "reason",
                        e->reason);
        if (env->recorder != NULL &&
            kube_recorder_event(env->recorder, written, e->type, e->reason, e->message) != 0)
            LB_LOG_WARN("event not recorded", "controller", "backup", "object", r.policy, "error",
                        lb_error_last());
    }
done:
    api_errors_dispose(&errs);
    api_backup_free(r.spec);
    json_decref(r.st);
    json_decref(written);
    json_decref(cur);
    return rc;
}
