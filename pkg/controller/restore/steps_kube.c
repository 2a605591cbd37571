/* restore/steps_kube.c - the Kubernetes steps of a restore: the migrations Job
 * on the restored copy, Secret patches (and their undo), scale-down/scale-up
 * of the item's workloads, and the rollout restarts. Contract: restore/step.h.
 *
 * Every step reads the live objects first and acts only on the difference, so
 * a call repeated after a crash finds its effect in place:
 *  - migrations: the Job and its URL Secret have fixed names derived from the
 *    request and item, and are adopted when they carry this request's uid in
 *    an ownerReference (anything else with that name is refused);
 *  - patch-secrets: the originals are written to "lifeboat-rollback-<rr>"
 *    before the live Secret is touched, an entry already there is never
 *    overwritten, and the new value is computed from that original; a key
 *    already holding the new value is not patched;
 *  - scale-down: replicas 0 and the replicas-before annotation go in one merge
 *    patch; scale-up reads the count back from that annotation;
 *  - rollout: restartedAt is the persisted startedAt of the step, so a second
 *    call writes the same value and does not restart the workload again.
 *
 * Package-private helpers steps_kube__*() are exported only for the unit
 * tests (tests/unit/test_steps_kube.c declares them). */
#include "controller/restore/step.h"
#include "controller/restore/jobrun.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "aws/secretsmanager.h"
#include "kube/config.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"

#define KUBE_NAME_MAX          63         /* a DNS label: Job names feed the job-name label */
#define KUBE_NAME_HASHED_KEEP  54         /* characters kept before "-<8 hex>" in a long name */
#define SECRET_VALUE_MAX       (1u << 20) /* one Secret is at most 1 MiB */
#define MIGRATIONS_LOG_KEEP    600        /* bytes of the tail that go into the message */
#define MIGRATIONS_SCRUB_MIN   3          /* shortest password scrubbed from that tail */
#define MIGRATIONS_CONTAINER   "migrations"
#define MIGRATIONS_URL_KEY     "url"
#define ROLLOUT_POLL_MS        1000
#define ROLLOUT_CRASH_RESTARTS 3   /* restarts of a new pod's container judged a crash loop */
#define ROLLOUT_MAX_PODS       500 /* pods listed per workload for the crash-loop check */

#define ANN_REPLICAS_BEFORE "lifeboat.dev/replicas-before"
#define ANN_RESTARTED_AT    "kubectl.kubernetes.io/restartedAt"
#define ANN_ABSENT_KEYS     "lifeboat.dev/absent-keys" /* rollback entries that did not exist */
#define ANN_REQUEST         "lifeboat.dev/restore-request"
#define LABEL_MANAGED_BY    "app.kubernetes.io/managed-by"

/* Declared for the unit tests only. */
void steps_kube__object_name(char *out, size_t size, const char *full);
int steps_kube__replace_host(char **out, const char *value, const char *host, int port);
int steps_kube__render_template(char **out, const char *tmpl, const char *host, int port,
                                const json_t *data, const char *secret_name);
int steps_kube__rollout_check(const json_t *obj, const char *kind, char *msg, size_t size);
int steps_kube__crashloop_check(const json_t *pods, lb_time since, char *msg, size_t size);
int steps_kube__json_field(char **out, const char *value, const char *key);

/* ---- small helpers ------------------------------------------------------------------ */

static const char *md_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static const char *rr_ns(const step_ctx *ctx)
{
    const char *s = md_str(ctx->rr, "namespace");
    return s ? s : "default";
}

static const char *rr_name(const step_ctx *ctx)
{
    const char *s = md_str(ctx->rr, "name");
    return s ? s : "";
}

static const char *rr_uid(const step_ctx *ctx)
{
    const char *s = md_str(ctx->rr, "uid");
    return s ? s : "";
}

static json_int_t int_at(const json_t *obj, const char *a, const char *b, json_int_t dflt)
{
    const json_t *v = json_object_get(json_object_get(obj, a), b);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static json_t *owner_refs(const step_ctx *ctx)
{
    const char *api = json_string_value(json_object_get(ctx->rr, "apiVersion"));
    return json_pack("[{s:s, s:s, s:s, s:s, s:b, s:b}]", "apiVersion",
                     api ? api : "lifeboat.dev/v1alpha1", "kind", "RestoreRequest", "name",
                     rr_name(ctx), "uid", rr_uid(ctx), "controller", 1, "blockOwnerDeletion", 1);
}

/* True when obj has an ownerReference carrying this request's uid. */
static int owned_by_rr(const json_t *obj, const step_ctx *ctx)
{
    const json_t *refs = json_object_get(json_object_get(obj, "metadata"), "ownerReferences");
    size_t i;
    const json_t *r;

    json_array_foreach(refs, i, r)
    {
        const char *uid = json_string_value(json_object_get(r, "uid"));
        if (uid != NULL && rr_uid(ctx)[0] != '\0' && strcmp(uid, rr_uid(ctx)) == 0)
            return 1;
    }
    return 0;
}

static json_t *managed_labels(void)
{
    return json_pack("{s:s}", LABEL_MANAGED_BY, "lifeboat");
}

static json_t *object_meta(const step_ctx *ctx, const char *name)
{
    char who[320];
    snprintf(who, sizeof(who), "%s/%s", rr_ns(ctx), rr_name(ctx));
    return json_pack("{s:s, s:s, s:o, s:{s:s}, s:o}", "name", name, "namespace", rr_ns(ctx),
                     "labels", managed_labels(), "annotations", ANN_REQUEST, who, "ownerReferences",
                     owner_refs(ctx));
}

static void wipe_free(char *s)
{
    if (s != NULL) {
        lb_free_secret(s);
    }
}

static char *b64_encode(const char *s, size_t n)
{
    char *o = lb_malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)o, (const unsigned char *)s, (int)n);
    return o;
}

/* Decodes a Secret data value into a NUL-terminated string; LB_EINVALID when it
 * is not base64 or holds a NUL byte (the message names `what`, not the value). */
static int b64_decode_str(char **out, const char *b64, const char *what)
{
    unsigned char *raw = NULL;
    size_t len = 0;

    if (strlen(b64) > 2 * SECRET_VALUE_MAX)
        return lb_error_setc(LB_ETOOBIG, "%s: larger than %u bytes", what, SECRET_VALUE_MAX);
    if (kube_base64_decode(&raw, &len, b64, strlen(b64)) != 0)
        return lb_error_setc(LB_EINVALID, "%s: not valid base64", what);
    if (memchr(raw, '\0', len) != NULL) {
        memset(raw, 0, len);
        free(raw);
        return lb_error_setc(LB_EINVALID, "%s: value contains a NUL byte", what);
    }
    *out = lb_strndup((const char *)raw, len);
    memset(raw, 0, len);
    free(raw);
    return 0;
}

/* PATCHes ref with body (stolen); the serialised body is wiped (it may hold a
 * Secret value). *out may be NULL. */
static int patch_json(json_t **out, const step_ctx *ctx, const kube_ref *ref, kube_patch_type t,
                      json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    int rc = kube_patch(out, ctx->kube, ref, t, s, strlen(s), NULL);
    wipe_free(s);
    json_decref(body);
    return rc;
}

static kube_ref secret_ref(const step_ctx *ctx, const char *name)
{
    kube_ref r = {
        .group = "", .version = "v1", .resource = "secrets", .namespace = rr_ns(ctx), .name = name};
    return r;
}

/* "a/b~c" -> "a~1b~0c" (RFC 6901) into a new string. */
static char *json_pointer_escape(const char *s)
{
    lb_buf b;
    buf_init(&b, 4096);
    for (; *s; s++) {
        if (*s == '~')
            buf_append_str(&b, "~0");
        else if (*s == '/')
            buf_append_str(&b, "~1");
        else
            buf_append(&b, s, 1);
    }
    return buf_detach(&b, NULL);
}

void steps_kube__object_name(char *out, size_t size, const char *full)
{
    uint32_t h = 2166136261u; /* FNV-1a 32 */
    size_t keep;

    if (strlen(full) <= KUBE_NAME_MAX) {
        snprintf(out, size, "%s", full);
        return;
    }
    for (const char *p = full; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 16777619u;
    }
    keep = KUBE_NAME_HASHED_KEEP;
    while (keep > 0 && (full[keep - 1] == '-' || full[keep - 1] == '.'))
        keep--;
    snprintf(out, size, "%.*s-%08x", (int)keep, full, (unsigned)h);
}

static void item_object_name(char *out, size_t size, const step_ctx *ctx, const char *suffix)
{
    char *full = lb_sprintf("lb-%s-%s-%s", rr_name(ctx), ctx->item->name, suffix);
    steps_kube__object_name(out, size, full);
    free(full);
}

/* The item steps need ctx->item; the engine passes it for "<item>/<action>". */
static int need_item(step_result *out, const step_ctx *ctx)
{
    if (ctx->item != NULL)
        return 0;
    step_failed(out, "InvalidStep", "step %s has no item", ctx->step ? ctx->step->name : "?");
    return 1;
}

/* ---- workloads ------------------------------------------------------------------------- */

static int workload_ref(kube_ref *ref, const step_ctx *ctx, const char *kind, const char *name)
{
    const char *res = NULL;

    if (strcmp(kind, "Deployment") == 0)
        res = "deployments";
    else if (strcmp(kind, "StatefulSet") == 0)
        res = "statefulsets";
    else if (strcmp(kind, "DaemonSet") == 0)
        res = "daemonsets";
    if (res == NULL)
        return lb_error_setc(LB_EINVALID,
                             "workload kind %s: must be Deployment, StatefulSet or "
                             "DaemonSet",
                             kind);
    memset(ref, 0, sizeof(*ref));
    ref->group = "apps";
    ref->version = "v1";
    ref->resource = res;
    ref->namespace = rr_ns(ctx);
    ref->name = name;
    return 0;
}

static const json_t *condition(const json_t *obj, const char *type)
{
    const json_t *conds = json_object_get(json_object_get(obj, "status"), "conditions");
    size_t i;
    const json_t *c;

    json_array_foreach(conds, i, c)
    {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (t != NULL && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

/* As `kubectl rollout status` decides: 1 when the rollout is complete, 0 while
 * it progresses (msg says what it waits for), -1 when it failed (msg says why). */
int steps_kube__rollout_check(const json_t *obj, const char *kind, char *msg, size_t size)
{
    const char *name = md_str(obj, "name");
    json_int_t gen = int_at(obj, "metadata", "generation", 0);
    json_int_t og = int_at(obj, "status", "observedGeneration", 0);
    json_int_t replicas = int_at(obj, "spec", "replicas", 1);

    name = name ? name : "?";
    if (og == 0 || og < gen) {
        snprintf(msg, size, "waiting for %s %s spec update to be observed", kind, name);
        return 0;
    }
    if (strcmp(kind, "Deployment") == 0) {
        const json_t *p = condition(obj, "Progressing");
        const char *reason = json_string_value(json_object_get(p, "reason"));
        json_int_t updated = int_at(obj, "status", "updatedReplicas", 0);
        json_int_t current = int_at(obj, "status", "replicas", 0);
        json_int_t available = int_at(obj, "status", "availableReplicas", 0);

        const char *pst = json_string_value(json_object_get(p, "status"));
        if ((reason != NULL && strcmp(reason, "ProgressDeadlineExceeded") == 0) ||
            (pst != NULL && strcmp(pst, "False") == 0)) {
            snprintf(msg, size, "Deployment %s exceeded its progress deadline", name);
            return -1;
        }
        if (updated < replicas) {
            snprintf(msg, size, "Deployment %s: %lld of %lld new replicas updated", name,
                     (long long)updated, (long long)replicas);
            return 0;
        }
        if (current > updated) {
            snprintf(msg, size, "Deployment %s: %lld old replicas pending termination", name,
                     (long long)(current - updated));
            return 0;
        }
        if (available < replicas) {
            snprintf(msg, size, "Deployment %s: %lld of %lld updated replicas available", name,
                     (long long)available, (long long)replicas);
            return 0;
        }
        snprintf(msg, size, "Deployment %s rolled out (%lld replicas)", name, (long long)replicas);
        return 1;
    }
    if (strcmp(kind, "StatefulSet") == 0) {
        const json_t *st = json_object_get(json_object_get(obj, "spec"), "updateStrategy");
        const char *type = json_string_value(json_object_get(st, "type"));
        json_int_t partition = int_at(st, "rollingUpdate", "partition", 0);
        json_int_t ready = int_at(obj, "status", "readyReplicas", 0);
        json_int_t updated = int_at(obj, "status", "updatedReplicas", 0);
        const char *cur =
            json_string_value(json_object_get(json_object_get(obj, "status"), "currentRevision"));
        const char *upd =
            json_string_value(json_object_get(json_object_get(obj, "status"), "updateRevision"));

        if (type != NULL && strcmp(type, "OnDelete") == 0) {
            snprintf(msg, size, "StatefulSet %s: updateStrategy OnDelete never rolls out by itself",
                     name);
            return -1;
        }
        if (ready < replicas) {
            snprintf(msg, size, "StatefulSet %s: %lld of %lld pods ready", name, (long long)ready,
                     (long long)replicas);
            return 0;
        }
        if (partition > 0) {
            if (updated < replicas - partition) {
                snprintf(msg, size, "StatefulSet %s: %lld of %lld pods above partition updated",
                         name, (long long)updated, (long long)(replicas - partition));
                return 0;
            }
            snprintf(msg, size, "StatefulSet %s: partitioned rollout done", name);
            return 1;
        }
        if (updated < replicas) {
            snprintf(msg, size, "StatefulSet %s: %lld of %lld pods updated", name,
                     (long long)updated, (long long)replicas);
            return 0;
        }
        if (cur != NULL && upd != NULL && strcmp(cur, upd) != 0) {
            snprintf(msg, size, "StatefulSet %s: waiting for revision %s to become current", name,
                     upd);
            return 0;
        }
        snprintf(msg, size, "StatefulSet %s rolled out (%lld replicas)", name, (long long)replicas);
        return 1;
    }
    if (strcmp(kind, "DaemonSet") == 0) {
        json_int_t desired = int_at(obj, "status", "desiredNumberScheduled", 0);
        json_int_t updated = int_at(obj, "status", "updatedNumberScheduled", 0);
        json_int_t available = int_at(obj, "status", "numberAvailable", 0);

        if (updated < desired) {
            snprintf(msg, size, "DaemonSet %s: %lld of %lld pods updated", name, (long long)updated,
                     (long long)desired);
            return 0;
        }
        if (available < desired) {
            snprintf(msg, size, "DaemonSet %s: %lld of %lld updated pods available", name,
                     (long long)available, (long long)desired);
            return 0;
        }
        snprintf(msg, size, "DaemonSet %s rolled out (%lld pods)", name, (long long)desired);
        return 1;
    }
    snprintf(msg, size, "%s %s: unsupported kind", kind, name);
    return -1;
}

/* 1 when a pod of the PodList `pods` created at or after `since` has a
 * container in CrashLoopBackOff or restarted ROLLOUT_CRASH_RESTARTS times (msg
 * names the pod, container and why), else 0. Older pods (the previous
 * template's) are not judged: their restarts predate this rollout. */
int steps_kube__crashloop_check(const json_t *pods, lb_time since, char *msg, size_t size)
{
    const json_t *pod;
    size_t i;

    json_array_foreach(json_object_get(pods, "items"), i, pod)
    {
        const char *created = md_str(pod, "creationTimestamp");
        const json_t *st = json_object_get(pod, "status"), *cs;
        lb_time t;
        size_t j;

        if (created == NULL || lb_time_parse_rfc3339(&t, created) != 0 || t.sec < since.sec)
            continue;
        json_array_foreach(json_object_get(st, "containerStatuses"), j, cs)
        {
            const char *cname = json_string_value(json_object_get(cs, "name"));
            const char *why = json_string_value(json_object_get(
                json_object_get(json_object_get(cs, "state"), "waiting"), "reason"));
            json_int_t restarts = json_integer_value(json_object_get(cs, "restartCount"));
            if ((why != NULL && strcmp(why, "CrashLoopBackOff") == 0) ||
                restarts >= ROLLOUT_CRASH_RESTARTS) {
                snprintf(msg, size,
                         "pod %s of the new template is crash-looping: container %s %s, "
                         "%lld restarts",
                         md_str(pod, "name") ? md_str(pod, "name") : "?", cname ? cname : "?",
                         why ? why : "restarting", (long long)restarts);
                return 1;
            }
        }
    }
    return 0;
}

/* "k=v,k2=v2" of spec.selector.matchLabels into a new string, or NULL when
 * the workload has none. */
static char *match_labels_selector(const json_t *obj)
{
    const json_t *ml =
        json_object_get(json_object_get(json_object_get(obj, "spec"), "selector"), "matchLabels");
    const char *k;
    json_t *v;
    lb_buf b;

    if (!json_is_object(ml) || json_object_size(ml) == 0)
        return NULL;
    buf_init(&b, 4096);
    json_object_foreach((json_t *)ml, k, v)
    {
        if (json_is_string(v))
            buf_printf(&b, "%s%s=%s", b.len > 0 ? "," : "", k, json_string_value(v));
    }
    return buf_detach(&b, NULL);
}

/* Lists the workload's pods and judges them (steps_kube__crashloop_check):
 * 1 crash-looping (msg says which), 0 not, negative on a transient error. */
static int workload_crashlooping(const step_ctx *ctx, const json_t *obj, lb_time since, char *msg,
                                 size_t size)
{
    kube_ref pods = {.version = "v1", .resource = "pods", .namespace = rr_ns(ctx)};
    char *sel = match_labels_selector(obj);
    kube_list_options lo = {.label_selector = sel, .limit = ROLLOUT_MAX_PODS};
    json_t *list = NULL;
    int rc;

    if (sel == NULL)
        return 0;
    rc = kube_list(&list, ctx->kube, &pods, &lo);
    free(sel);
    if (rc != 0)
        return lb_error_wrap(rc, "list the pods of %s", md_str(obj, "name"));
    rc = steps_kube__crashloop_check(list, since, msg, size);
    json_decref(list);
    return rc;
}

/* GETs a workload; a missing one fails the step (a spec naming it cannot succeed). */
static int get_workload(json_t **obj, kube_ref *ref, step_result *out, const step_ctx *ctx,
                        const char *kind, const char *name)
{
    int rc = workload_ref(ref, ctx, kind, name);

    *obj = NULL;
    if (rc != 0) {
        step_failed(out, "InvalidWorkload", "%s", lb_error_last());
        return 1;
    }
    rc = kube_get(obj, ctx->kube, ref);
    if (rc == LB_ENOTFOUND) {
        step_failed(out, "WorkloadNotFound", "%s %s not found in namespace %s", kind, name,
                    rr_ns(ctx));
        return 1;
    }
    if (rc != 0)
        return lb_error_wrap(rc, "get %s %s", kind, name);
    return 0;
}

/* Scales each of the n workloads to 0, keeping the count before in
 * ANN_REPLICAS_BEFORE (in the same patch), DaemonSets skipped (*skipped
 * counts them). Returns 0 with *waiting = workloads not stopped yet, 1 when
 * out is filled (a failure), or a negative transient code. */
static int scale_to_zero(step_result *out, size_t *waiting, size_t *skipped, char *last,
                         size_t last_size, const step_ctx *ctx, const api_workload *list,
                         size_t n_list)
{
    *waiting = 0;
    *skipped = 0;
    for (size_t i = 0; i < n_list; i++) {
        const api_workload *w = &list[i];
        kube_ref ref;
        json_t *obj = NULL;
        const char *before;
        json_int_t replicas;
        int rc;

        if (strcmp(w->kind, "DaemonSet") == 0) {
            (*skipped)++; /* has no replicas to scale */
            continue;
        }
        rc = get_workload(&obj, &ref, out, ctx, w->kind, w->name);
        if (rc != 0)
            return rc;
        before = json_string_value(json_object_get(
            json_object_get(json_object_get(obj, "metadata"), "annotations"), ANN_REPLICAS_BEFORE));
        replicas = int_at(obj, "spec", "replicas", 1);
        if (replicas != 0 || before == NULL) {
            /* An annotation already there is the count before our first scale-down
             * (someone scaled the workload up since): keep it, only scale to 0. */
            char n[24];
            json_t *patch, *res = NULL;
            snprintf(n, sizeof(n), "%lld", (long long)replicas);
            patch = json_pack("{s:{s:{s:s}}, s:{s:i}}", "metadata", "annotations",
                              ANN_REPLICAS_BEFORE, before ? before : n, "spec", "replicas", 0);
            rc = patch_json(&res, ctx, &ref, KUBE_PATCH_MERGE, patch);
            if (rc != 0) {
                json_decref(obj);
                return lb_error_wrap(rc, "scale %s %s to 0", w->kind, w->name);
            }
            json_decref(obj);
            obj = res;
        }
        if (int_at(obj, "status", "observedGeneration", 0) <
                int_at(obj, "metadata", "generation", 0) ||
            int_at(obj, "status", "replicas", 0) != 0) {
            (*waiting)++;
            snprintf(last, last_size, "%s %s has %lld replicas", w->kind, w->name,
                     (long long)int_at(obj, "status", "replicas", 0));
        }
        json_decref(obj);
    }
    return 0;
}

int kube_step_scale_down(step_result *out, const step_ctx *ctx)
{
    size_t waiting = 0, skipped = 0;
    char last[256] = "";
    int rc;

    if (need_item(out, ctx))
        return 0;
    rc = scale_to_zero(out, &waiting, &skipped, last, sizeof(last), ctx, ctx->item->scale_down,
                       ctx->item->n_scale_down);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (waiting > 0)
        return step_wait(out, ROLLOUT_POLL_MS, "waiting for %zu workload(s) to stop: %s", waiting,
                         last);
    return step_done(out, "%zu workload(s) scaled to 0 (previous counts in annotation %s)",
                     ctx->item->n_scale_down, ANN_REPLICAS_BEFORE);
}

int kube_step_stop_writers(step_result *out, const step_ctx *ctx)
{
    size_t waiting = 0, skipped = 0;
    char last[256] = "";
    int rc = scale_to_zero(out, &waiting, &skipped, last, sizeof(last), ctx, ctx->spec->rollout,
                           ctx->spec->n_rollout);

    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (waiting > 0)
        return step_wait(out, ROLLOUT_POLL_MS, "stopping the writers: %zu workload(s) not at 0: %s",
                         waiting, last);
    return step_done(out,
                     "writers stopped: %zu spec.rollout workload(s) scaled to 0 (previous counts "
                     "in annotation %s)%s",
                     ctx->spec->n_rollout - skipped, ANN_REPLICAS_BEFORE,
                     skipped > 0 ? "; DaemonSets cannot be scaled and kept running" : "");
}

int kube_step_scale_up(step_result *out, const step_ctx *ctx)
{
    size_t waiting = 0;
    char last[256] = "";

    if (need_item(out, ctx))
        return 0;
    for (size_t i = 0; i < ctx->item->n_scale_down; i++) {
        const api_workload *w = &ctx->item->scale_down[i];
        kube_ref ref;
        json_t *obj = NULL;
        const char *before;
        int rc = get_workload(&obj, &ref, out, ctx, w->kind, w->name);

        if (rc != 0)
            return rc < 0 ? rc : 0;
        before = json_string_value(json_object_get(
            json_object_get(json_object_get(obj, "metadata"), "annotations"), ANN_REPLICAS_BEFORE));
        if (before != NULL) {
            char *end = NULL;
            long long n = strtoll(before, &end, 10);
            json_t *patch, *res = NULL;
            if (end == before || *end != '\0' || n < 0 || n > 1000000) {
                json_decref(obj);
                return step_failed(out, "InvalidAnnotation",
                                   "%s %s: annotation %s is not a replica count", w->kind, w->name,
                                   ANN_REPLICAS_BEFORE);
            }
            patch = json_pack("{s:{s:{s:n}}, s:{s:I}}", "metadata", "annotations",
                              ANN_REPLICAS_BEFORE, "spec", "replicas", (json_int_t)n);
            rc = patch_json(&res, ctx, &ref, KUBE_PATCH_MERGE, patch);
            json_decref(obj);
            if (rc != 0)
                return lb_error_wrap(rc, "scale %s %s back to %lld", w->kind, w->name, n);
            obj = res;
        }
        rc = steps_kube__rollout_check(obj, w->kind, last, sizeof(last));
        json_decref(obj);
        if (rc < 0)
            return step_failed(out, "RolloutFailed", "%s", last);
        if (rc == 0)
            waiting++;
    }
    if (waiting > 0)
        return step_wait(out, ROLLOUT_POLL_MS, "waiting for %zu workload(s) to be ready: %s",
                         waiting, last);
    return step_done(out, "%zu workload(s) scaled back up and ready", ctx->item->n_scale_down);
}

int kube_step_rollout(step_result *out, const step_ctx *ctx)
{
    const char *sname = ctx->step->name;
    const char *kind_at, *slash;
    char kind[32], stamp_step[600], stamp[LB_TIME_RFC3339_MAX], msg[256];
    const api_workload *w = NULL;
    const char *have, *before;
    kube_ref ref;
    json_t *obj = NULL;
    lb_time t;
    int rc;

    if (strncmp(sname, "rollout/", 8) != 0 || (slash = strchr(sname + 8, '/')) == NULL ||
        (size_t)(slash - (sname + 8)) >= sizeof(kind))
        return step_failed(out, "InvalidStep", "step %s: expected rollout/<Kind>/<name>", sname);
    kind_at = sname + 8;
    snprintf(kind, sizeof(kind), "%.*s", (int)(slash - kind_at), kind_at);
    for (size_t i = 0; i < ctx->spec->n_rollout; i++) {
        if (strcmp(ctx->spec->rollout[i].kind, kind) == 0 &&
            strcmp(ctx->spec->rollout[i].name, slash + 1) == 0)
            w = &ctx->spec->rollout[i];
    }
    if (w == NULL)
        return step_failed(out, "InvalidStep", "step %s: no such entry in spec.rollout", sname);

    /* A rollback restarts once more, so it needs a value of its own. */
    snprintf(stamp_step, sizeof(stamp_step), "%s%s", ctx->rollback ? "rollback/" : "", sname);
    if (step_started_at(&t, ctx, stamp_step) != 0)
        return step_failed(out, "MissingStartTime",
                           "step %s has no persisted startedAt to restart with", stamp_step);
    if (lb_time_format(stamp, sizeof(stamp), t, 0) != 0)
        return step_failed(out, "MissingStartTime", "step %s: startedAt out of range", stamp_step);

    rc = get_workload(&obj, &ref, out, ctx, w->kind, w->name);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    have = json_string_value(json_object_get(
        json_object_get(
            json_object_get(json_object_get(json_object_get(obj, "spec"), "template"), "metadata"),
            "annotations"),
        ANN_RESTARTED_AT));
    /* a rollback brings back the replicas rollback/stop-writers kept */
    before = ctx->rollback ? json_string_value(json_object_get(
                                 json_object_get(json_object_get(obj, "metadata"), "annotations"),
                                 ANN_REPLICAS_BEFORE))
                           : NULL;
    if (before != NULL) {
        char *end = NULL;
        long long n = strtoll(before, &end, 10);
        json_t *patch, *res = NULL;
        if (end == before || *end != '\0' || n < 0 || n > 1000000) {
            json_decref(obj);
            return step_failed(out, "InvalidAnnotation",
                               "%s %s: annotation %s is not a replica count", w->kind, w->name,
                               ANN_REPLICAS_BEFORE);
        }
        patch = json_pack("{s:{s:{s:n}}, s:{s:I, s:{s:{s:{s:s}}}}}", "metadata", "annotations",
                          ANN_REPLICAS_BEFORE, "spec", "replicas", (json_int_t)n, "template",
                          "metadata", "annotations", ANN_RESTARTED_AT, stamp);
        json_decref(obj);
        rc = patch_json(&res, ctx, &ref, KUBE_PATCH_MERGE, patch);
        if (rc != 0)
            return lb_error_wrap(rc, "bring %s %s back to %lld replicas", w->kind, w->name, n);
        obj = res;
    } else if (have == NULL || strcmp(have, stamp) != 0) {
        json_t *patch = json_pack("{s:{s:{s:{s:{s:s}}}}}", "spec", "template", "metadata",
                                  "annotations", ANN_RESTARTED_AT, stamp);
        json_t *res = NULL;
        json_decref(obj);
        rc = patch_json(&res, ctx, &ref, KUBE_PATCH_MERGE, patch);
        if (rc != 0)
            return lb_error_wrap(rc, "restart %s %s", w->kind, w->name);
        obj = res;
    }
    rc = steps_kube__rollout_check(obj, w->kind, msg, sizeof(msg));
    if (rc == 0) {
        /* still rolling: fail early when the new pods crash-loop (the deadline
         * catches whatever this does not recognise) */
        char crash[400];
        int cl = workload_crashlooping(ctx, obj, t, crash, sizeof(crash));
        json_decref(obj);
        if (cl < 0)
            return cl;
        if (cl > 0)
            return step_failed(out, "CrashLooping", "%s %s: %s", w->kind, w->name, crash);
        return step_wait(out, ROLLOUT_POLL_MS, "restarted at %s; %s", stamp, msg);
    }
    json_decref(obj);
    if (rc < 0)
        return step_failed(out, "RolloutFailed", "%s", msg);
    return step_done(out, "%s (restartedAt %s)", msg, stamp);
}

/* ---- connection strings --------------------------------------------------------------- */

static int is_host_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_' || c == '%';
}

/* Rewrites the host and port of a connection string:
 *   scheme://[user[:pass]@]host[:port][/path][?query][#frag]   (host may be [IPv6])
 *   host:port[/rest]                                            (a bare address)
 * to host:port (an IPv6 host is bracketed). *out is new (caller wipes and frees).
 * LB_EINVALID when no single host can be found; the message never quotes the value. */
int steps_kube__replace_host(char **out, const char *value, const char *host, int port)
{
    const char *scheme = strstr(value, "://");
    const char *auth, *auth_end, *hp, *h_end, *p_end, *at = NULL;
    int bracket = strchr(host, ':') != NULL;

    auth = scheme ? scheme + 3 : value;
    auth_end = auth + strcspn(auth, "/?#");
    for (const char *p = auth; p < auth_end; p++)
        if (*p == '@')
            at = p;
    hp = at ? at + 1 : auth;
    if (memchr(hp, ',', (size_t)(auth_end - hp)) != NULL)
        return lb_error_setc(LB_EINVALID, "several hosts in one connection string are not "
                                          "supported by replaceHost");
    if (hp == auth_end)
        return lb_error_setc(LB_EINVALID, "no host in the connection string (expected "
                                          "scheme://[user[:password]@]host[:port]/... or "
                                          "host:port)");
    if (*hp == '[') {
        const char *close = memchr(hp, ']', (size_t)(auth_end - hp));
        if (close == NULL || close == hp + 1)
            return lb_error_setc(LB_EINVALID, "unterminated or empty [IPv6] host in the "
                                              "connection string");
        for (const char *p = hp + 1; p < close; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.' && *p != '%')
                return lb_error_setc(LB_EINVALID, "[IPv6] host holds a character that is not "
                                                  "hex, ':' or '.'");
        h_end = close + 1;
        if (h_end != auth_end && *h_end != ':')
            return lb_error_setc(LB_EINVALID, "unexpected text after the [IPv6] host");
    } else {
        h_end = hp;
        while (h_end < auth_end && *h_end != ':')
            h_end++;
        if (h_end == hp)
            return lb_error_setc(LB_EINVALID, "empty host in the connection string");
        for (const char *p = hp; p < h_end; p++)
            if (!is_host_char(*p))
                return lb_error_setc(LB_EINVALID, "no recognisable host in the connection "
                                                  "string (a host holds letters, digits, '.', "
                                                  "'-')");
    }
    p_end = h_end;
    if (p_end < auth_end && *p_end == ':') {
        p_end++;
        if (p_end == auth_end)
            return lb_error_setc(LB_EINVALID, "empty port after ':' in the connection string");
        for (; p_end < auth_end; p_end++)
            if (!isdigit((unsigned char)*p_end))
                return lb_error_setc(LB_EINVALID, "the port in the connection string is not a "
                                                  "number");
    }
    if (scheme == NULL && p_end == h_end)
        return lb_error_setc(LB_EINVALID, "no recognisable host: a value without a scheme must "
                                          "be host:port");
    *out = lb_sprintf("%.*s%s%s%s:%d%s", (int)(hp - value), value, bracket ? "[" : "", host,
                      bracket ? "]" : "", port, p_end);
    return 0;
}

/* Substitutes $(ENDPOINT), $(PORT) and $(secret:KEY) (KEY from `data`, the
 * Secret's base64 data). Any other $(...) is an error naming it. */
int steps_kube__render_template(char **out, const char *tmpl, const char *host, int port,
                                const json_t *data, const char *secret_name)
{
    lb_buf b;
    int rc = 0;
    const char *p = tmpl;

    buf_init(&b, SECRET_VALUE_MAX);
    while (*p && rc == 0) {
        const char *close;
        if (p[0] != '$' || p[1] != '(' || (close = strchr(p + 2, ')')) == NULL) {
            rc = buf_append(&b, p, 1);
            p++;
            continue;
        }
        if ((size_t)(close - p) == 10 && strncmp(p, "$(ENDPOINT)", 11) == 0) {
            if (host == NULL)
                rc = lb_error_setc(LB_EINVALID, "template: $(ENDPOINT) has no value for this "
                                                "item");
            else
                rc = buf_append_str(&b, host);
        } else if ((size_t)(close - p) == 6 && strncmp(p, "$(PORT)", 7) == 0) {
            if (host == NULL)
                rc = lb_error_setc(LB_EINVALID, "template: $(PORT) has no value for this item");
            else
                rc = buf_printf(&b, "%d", port);
        } else if (strncmp(p, "$(secret:", 9) == 0 && close > p + 9) {
            char *key = lb_strndup(p + 9, (size_t)(close - p - 9));
            const char *v = json_string_value(json_object_get(data, key));
            char *plain = NULL;
            if (v == NULL) {
                rc = lb_error_setc(LB_EINVALID, "template: $(secret:%s): Secret %s has no key %s",
                                   key, secret_name, key);
            } else {
                char what[600];
                snprintf(what, sizeof(what), "Secret %s key %s", secret_name, key);
                rc = b64_decode_str(&plain, v, what);
                if (rc == 0)
                    rc = buf_append_str(&b, plain);
                wipe_free(plain);
            }
            free(key);
        } else {
            rc = lb_error_setc(LB_EINVALID,
                               "template: unknown variable %.*s (allowed: "
                               "$(ENDPOINT), $(PORT), $(secret:KEY))",
                               (int)(close - p + 1 > 80 ? 80 : close - p + 1), p);
        }
        p = close + 1;
    }
    if (rc != 0) {
        if (b.data != NULL)
            memset(b.data, 0, b.len);
        buf_dispose(&b);
        return rc == LB_ETOOBIG ? lb_error_setc(LB_ETOOBIG,
                                                "template: result larger than %u "
                                                "bytes",
                                                SECRET_VALUE_MAX)
                                : rc;
    }
    *out = buf_detach(&b, NULL);
    return 0;
}

/* ---- patch-secrets ---------------------------------------------------------------------- */

typedef struct patch_entry {
    const char *secret; /* secretName */
    const char *key;
    const char *tmpl;     /* template or NULL */
    const char *json_key; /* jsonKey (secretVersion) or NULL */
    int replace_host;
    char dkey[520]; /* "<secretName>_<key>" in the rollback Secret: Secret names have no
                       '_', so the first one splits them (with '.' "a.b"+"c" and "a"+"b.c"
                       collided) */
    json_t *live;   /* the live Secret */
} patch_entry;

static int absent_has(const char *list, const char *dkey)
{
    size_t n = strlen(dkey);
    const char *p = list;
    while (p != NULL && *p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, dkey, n) == 0)
            return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

static void entries_free(patch_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(e[i].live);
    free(e);
}

/* Reads spec.secretPatches and each live Secret. Returns 0, 1 when the step
 * failed (out filled), or a negative transient code. */
static int entries_load(patch_entry **out_e, size_t *out_n, step_result *out, const step_ctx *ctx,
                        int need_live)
{
    const json_t *patches = json_object_get(ctx->item->spec, "secretPatches");
    size_t n = json_array_size(patches);
    patch_entry *e = lb_calloc(n ? n : 1, sizeof(*e));
    int rc = 0;

    for (size_t i = 0; i < n; i++) {
        const json_t *p = json_array_get(patches, i);
        kube_ref ref;
        e[i].secret = json_string_value(json_object_get(p, "secretName"));
        e[i].key = json_string_value(json_object_get(p, "key"));
        e[i].tmpl = json_string_value(json_object_get(p, "template"));
        e[i].json_key = json_string_value(json_object_get(p, "jsonKey"));
        e[i].replace_host = json_is_true(json_object_get(p, "replaceHost"));
        if (e[i].secret == NULL || e[i].key == NULL) {
            step_failed(out, "InvalidSpec",
                        "items[%zu].secretPatches[%zu]: secretName and key "
                        "are required",
                        ctx->item->index, i);
            rc = 1;
            break;
        }
        snprintf(e[i].dkey, sizeof(e[i].dkey), "%s_%s", e[i].secret, e[i].key);
        if (!need_live)
            continue;
        ref = secret_ref(ctx, e[i].secret);
        rc = kube_get(&e[i].live, ctx->kube, &ref);
        if (rc == LB_ENOTFOUND) {
            step_failed(out, "SecretNotFound",
                        "Secret %s (secretPatches[%zu]) not found in "
                        "namespace %s",
                        e[i].secret, i, rr_ns(ctx));
            rc = 1;
            break;
        }
        if (rc != 0) {
            rc = lb_error_wrap(rc, "get Secret %s", e[i].secret);
            break;
        }
    }
    if (rc != 0) {
        entries_free(e, n);
        return rc;
    }
    *out_e = e;
    *out_n = n;
    return 0;
}

static const char *live_b64(const patch_entry *e)
{
    return json_string_value(json_object_get(json_object_get(e->live, "data"), e->key));
}

/* Makes sure the rollback Secret holds the original of every entry (never
 * overwriting one already there). *out_rb receives it. Returns 0, 1 (failed,
 * out filled) or a negative transient code. */
static int rollback_ensure(json_t **out_rb, step_result *out, const step_ctx *ctx, patch_entry *e,
                           size_t n, const char *rb_name)
{
    kube_ref ref = secret_ref(ctx, rb_name);
    json_t *rb = NULL, *add = json_object();
    const json_t *data;
    const char *absent;
    lb_buf absent_new;
    int rc = kube_get(&rb, ctx->kube, &ref);

    buf_init(&absent_new, 64 * 1024);
    if (rc != 0 && rc != LB_ENOTFOUND) {
        rc = lb_error_wrap(rc, "get Secret %s", rb_name);
        goto done;
    }
    if (rc == 0 && !owned_by_rr(rb, ctx)) {
        rc = 1;
        step_failed(out, "RollbackSecretNotOwned",
                    "Secret %s exists but is not owned by this RestoreRequest (uid %s)", rb_name,
                    rr_uid(ctx));
        goto done;
    }
    data = json_object_get(rb, "data");
    absent = json_string_value(json_object_get(
        json_object_get(json_object_get(rb, "metadata"), "annotations"), ANN_ABSENT_KEYS));
    if (absent != NULL)
        buf_append_str(&absent_new, absent);
    for (size_t i = 0; i < n; i++) {
        const char *v = live_b64(&e[i]);
        if (json_object_get(data, e[i].dkey) != NULL || absent_has(absent, e[i].dkey) ||
            json_object_get(add, e[i].dkey) != NULL || absent_has(buf_cstr(&absent_new), e[i].dkey))
            continue;
        if (v != NULL) {
            json_object_set_new(add, e[i].dkey, json_string(v));
        } else {
            if (buf_len(&absent_new) > 0)
                buf_append_str(&absent_new, ",");
            buf_append_str(&absent_new, e[i].dkey);
        }
    }
    rc = 0;
    if (rb == NULL) {
        json_t *body =
            json_pack("{s:s, s:s, s:o, s:s, s:O}", "apiVersion", "v1", "kind", "Secret", "metadata",
                      object_meta(ctx, rb_name), "type", "Opaque", "data", add);
        if (buf_len(&absent_new) > 0)
            json_object_set_new(json_object_get(json_object_get(body, "metadata"), "annotations"),
                                ANN_ABSENT_KEYS, json_string(buf_cstr(&absent_new)));
        ref.name = NULL; /* POST to the collection */
        rc = kube_create(&rb, ctx->kube, &ref, body);
        json_decref(body);
        if (rc != 0)
            rc = lb_error_wrap(rc, "create Secret %s", rb_name);
    } else if (json_object_size(add) > 0 ||
               strcmp(buf_cstr(&absent_new), absent ? absent : "") != 0) {
        /* resourceVersion makes a concurrent writer's change a 409, not a lost entry */
        json_t *patch = json_pack(
            "{s:{s:s}, s:O}", "metadata", "resourceVersion",
            md_str(rb, "resourceVersion") ? md_str(rb, "resourceVersion") : "", "data", add);
        json_t *res = NULL;
        if (buf_len(&absent_new) > 0)
            json_object_set_new(json_object_get(patch, "metadata"), "annotations",
                                json_pack("{s:s}", ANN_ABSENT_KEYS, buf_cstr(&absent_new)));
        rc = patch_json(&res, ctx, &ref, KUBE_PATCH_MERGE, patch);
        if (rc != 0) {
            rc = lb_error_wrap(rc, "add originals to Secret %s", rb_name);
        } else {
            json_decref(rb);
            rb = res;
        }
    }
done:
    json_decref(add);
    buf_dispose(&absent_new);
    if (rc == 0)
        *out_rb = rb;
    else
        json_decref(rb);
    return rc;
}

/* JSON patch of one key: test the value read, then replace (or add / remove). */
static int patch_key(const step_ctx *ctx, const patch_entry *e, const char *cur_b64,
                     const char *new_b64)
{
    kube_ref ref = secret_ref(ctx, e->secret);
    char *key = json_pointer_escape(e->key);
    char *path = lb_sprintf("/data/%s", key);
    json_t *ops = json_array();
    int rc;

    if (cur_b64 != NULL)
        json_array_append_new(
            ops, json_pack("{s:s, s:s, s:s}", "op", "test", "path", path, "value", cur_b64));
    if (new_b64 == NULL)
        json_array_append_new(ops, json_pack("{s:s, s:s}", "op", "remove", "path", path));
    else if (cur_b64 != NULL)
        json_array_append_new(
            ops, json_pack("{s:s, s:s, s:s}", "op", "replace", "path", path, "value", new_b64));
    else if (json_object_get(e->live, "data") == NULL)
        json_array_append_new(ops, json_pack("{s:s, s:s, s:{s:s}}", "op", "add", "path", "/data",
                                             "value", e->key, new_b64));
    else
        json_array_append_new(
            ops, json_pack("{s:s, s:s, s:s}", "op", "add", "path", path, "value", new_b64));
    rc = patch_json(NULL, ctx, &ref, KUBE_PATCH_JSON, ops);
    if (rc == LB_EINVALID) /* the test failed: the Secret changed since we read it */
        rc = lb_error_setc(LB_ECONFLICT,
                           "Secret %s key %s changed while it was patched; "
                           "retrying",
                           e->secret, e->key);
    else if (rc != 0)
        rc = lb_error_wrap(rc, "patch Secret %s key %s", e->secret, e->key);
    free(key);
    free(path);
    return rc;
}

/* secretVersion items: the Secrets Manager value restored by make-current (the
 * version id it reported, else spec versionId, else AWSCURRENT - make-current
 * has made the restored version current by then). */
static int sm_value(char **out_v, step_result *out, const step_ctx *ctx)
{
    const char *sid = json_string_value(json_object_get(ctx->item->source_spec, "secretId"));
    const char *vid = json_string_value(json_object_get(step_item_output(ctx), "versionId"));
    sm_secret_value v;
    int rc;

    if (vid == NULL)
        vid = json_string_value(json_object_get(ctx->item->source_spec, "versionId"));
    if (ctx->aws == NULL) {
        step_failed(out, "NoAWSConfiguration", "item %s: secretVersion patches need AWS access",
                    ctx->item->name);
        return 1;
    }
    memset(&v, 0, sizeof(v));
    rc = sm_get_secret_value(&v, ctx->aws, sid, vid, vid ? NULL : "AWSCURRENT");
    if (rc != 0)
        return lb_error_wrap(rc, "GetSecretValue %s", sid ? sid : "?");
    if (v.secret_string == NULL) {
        sm_secret_value_dispose(&v);
        step_failed(out, "BinarySecret",
                    "secret %s holds SecretBinary; only SecretString can "
                    "be patched into a Kubernetes Secret",
                    sid);
        return 1;
    }
    *out_v = lb_strdup(v.secret_string);
    sm_secret_value_dispose(&v);
    return 0;
}

/* The top-level field `key` of the JSON object in `value` into *out: a string
 * as it is, any other JSON value in compact form. LB_EINVALID when value is
 * not a JSON object or lacks the field; the message never quotes the value. */
int steps_kube__json_field(char **out, const char *value, const char *key)
{
    json_error_t jerr;
    json_t *doc = json_loads(value, JSON_REJECT_DUPLICATES, &jerr);
    const json_t *f;
    int rc = 0;

    *out = NULL;
    if (!json_is_object(doc)) {
        rc = lb_error_setc(LB_EINVALID, "jsonKey %s: the secret value is not a JSON object", key);
        goto done;
    }
    f = json_object_get(doc, key);
    if (f == NULL) {
        rc = lb_error_setc(LB_EINVALID, "jsonKey %s: the secret value has no such field", key);
        goto done;
    }
    if (json_is_string(f))
        *out = lb_strdup(json_string_value(f));
    else
        *out = json_dumps(f, JSON_COMPACT | JSON_ENCODE_ANY);
    if (*out == NULL)
        rc = lb_error_setc(LB_EINVALID, "jsonKey %s: field cannot be written", key);
done:
    /* jansson does not wipe; drop our reference promptly */
    json_decref(doc);
    return rc;
}

int kube_step_patch_secrets(step_result *out, const step_ctx *ctx)
{
    patch_entry *e = NULL;
    size_t n = 0, changed = 0;
    char rb_name[300];
    const char *host = NULL;
    int port = 0, rc;
    json_t *rb = NULL;
    char *smv = NULL;

    if (need_item(out, ctx))
        return 0;
    snprintf(rb_name, sizeof(rb_name), "lifeboat-rollback-%s", rr_name(ctx));
    if (ctx->item->source != API_SOURCE_SECRET_VERSION &&
        step_item_endpoint(&host, &port, ctx) != 0)
        return step_failed(out, "NoEndpoint",
                           "item %s has no restored endpoint in "
                           "status.outputs to point Secrets at",
                           ctx->item->name);
    rc = entries_load(&e, &n, out, ctx, 1);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].replace_host && live_b64(&e[i]) == NULL) {
            rc = 1;
            step_failed(out, "SecretKeyNotFound",
                        "Secret %s has no key %s to rewrite the host "
                        "of (replaceHost)",
                        e[i].secret, e[i].key);
            goto done;
        }
    }
    rc = rollback_ensure(&rb, out, ctx, e, n, rb_name);
    if (rc != 0)
        goto done;
    for (size_t i = 0; i < n; i++) {
        const char *orig =
            json_string_value(json_object_get(json_object_get(rb, "data"), e[i].dkey));
        const char *cur = live_b64(&e[i]);
        char *newv = NULL, *new_b64;
        char what[600];

        snprintf(what, sizeof(what), "Secret %s key %s", e[i].secret, e[i].key);
        if (e[i].replace_host) {
            char *orig_plain = NULL;
            /* from the original, so a repeat computes the same value */
            rc = b64_decode_str(&orig_plain, orig ? orig : cur, what);
            if (rc == 0)
                rc = steps_kube__replace_host(&newv, orig_plain, host, port);
            wipe_free(orig_plain);
        } else if (e[i].tmpl != NULL) {
            rc = steps_kube__render_template(&newv, e[i].tmpl, host, port,
                                             json_object_get(e[i].live, "data"), e[i].secret);
        } else if (ctx->item->source == API_SOURCE_SECRET_VERSION) {
            if (smv == NULL) {
                rc = sm_value(&smv, out, ctx);
                if (rc != 0)
                    goto done;
            }
            if (e[i].json_key != NULL)
                rc = steps_kube__json_field(&newv, smv, e[i].json_key);
            else
                newv = lb_strdup(smv);
        } else {
            rc = 1;
            step_failed(out, "InvalidSpec",
                        "secretPatches for Secret %s key %s: replaceHost "
                        "or template is required",
                        e[i].secret, e[i].key);
            goto done;
        }
        if (rc != 0) {
            rc = 1;
            step_failed(out, "InvalidSecretValue", "%s: %s", what, lb_error_last());
            goto done;
        }
        new_b64 = b64_encode(newv, strlen(newv));
        wipe_free(newv);
        if (cur == NULL || strcmp(cur, new_b64) != 0) {
            rc = patch_key(ctx, &e[i], cur, new_b64);
            changed++;
        }
        wipe_free(new_b64);
        if (rc != 0)
            goto done;
    }
    if (host != NULL)
        step_done(out,
                  "%zu Secret key(s) point at %s:%d (%zu changed now); originals in Secret "
                  "%s",
                  n, host, port, changed, rb_name);
    else
        step_done(out,
                  "%zu Secret key(s) hold the restored secret version (%zu changed now); "
                  "originals in Secret %s",
                  n, changed, rb_name);
done:
    wipe_free(smv);
    json_decref(rb);
    entries_free(e, n);
    return rc < 0 ? rc : 0;
}

int kube_step_patch_secrets_undo(step_result *out, const step_ctx *ctx)
{
    patch_entry *e = NULL;
    size_t n = 0, restored = 0;
    char rb_name[300];
    kube_ref ref;
    json_t *rb = NULL;
    const char *absent;
    int rc;

    if (need_item(out, ctx))
        return 0;
    snprintf(rb_name, sizeof(rb_name), "lifeboat-rollback-%s", rr_name(ctx));
    ref = secret_ref(ctx, rb_name);
    rc = kube_get(&rb, ctx->kube, &ref);
    if (rc == LB_ENOTFOUND) /* written before any patch: none happened */
        return step_done(out, "no Secret was patched (no %s)", rb_name);
    if (rc != 0)
        return lb_error_wrap(rc, "get Secret %s", rb_name);
    if (!owned_by_rr(rb, ctx)) {
        json_decref(rb);
        return step_failed(out, "RollbackSecretNotOwned",
                           "Secret %s is not owned by this RestoreRequest (uid %s)", rb_name,
                           rr_uid(ctx));
    }
    absent = json_string_value(json_object_get(
        json_object_get(json_object_get(rb, "metadata"), "annotations"), ANN_ABSENT_KEYS));
    rc = entries_load(&e, &n, out, ctx, 0);
    if (rc != 0) {
        json_decref(rb);
        return rc < 0 ? rc : 0;
    }
    for (size_t i = 0; i < n; i++) {
        const char *orig =
            json_string_value(json_object_get(json_object_get(rb, "data"), e[i].dkey));
        kube_ref lref = secret_ref(ctx, e[i].secret);
        const char *cur;

        if (orig == NULL && !absent_has(absent, e[i].dkey))
            continue; /* never recorded, so never patched */
        if (e[i].live == NULL) {
            rc = kube_get(&e[i].live, ctx->kube, &lref);
            if (rc == LB_ENOTFOUND) {
                rc = 1;
                step_failed(out, "SecretNotFound", "Secret %s to restore key %s into is gone",
                            e[i].secret, e[i].key);
                break;
            }
            if (rc != 0) {
                rc = lb_error_wrap(rc, "get Secret %s", e[i].secret);
                break;
            }
        }
        cur = live_b64(&e[i]);
        if ((orig == NULL && cur == NULL) || (orig != NULL && cur != NULL && !strcmp(orig, cur)))
            continue;
        rc = patch_key(ctx, &e[i], cur, orig);
        if (rc != 0)
            break;
        restored++;
    }
    if (rc == 0)
        step_done(out, "Secret keys back to their originals from %s (%zu restored now)", rb_name,
                  restored);
    json_decref(rb);
    entries_free(e, n);
    return rc < 0 ? rc : 0;
}

/* ---- migrations ------------------------------------------------------------------------- */

static void url_escape(lb_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
            buf_append(b, s, 1);
        else
            buf_printf(b, "%%%02X", c);
    }
}

/* The restored copy's URL (or, for pgDump, the live database's URL from its
 * connection Secret). Returns 0, 1 (failed, out filled) or a transient code. */
static int migrations_url(char **url, char **password, step_result *out, const step_ctx *ctx)
{
    const json_t *spec = ctx->item->spec;
    const json_t *cref;
    const char *host, *db, *name, *ukey, *pkey;
    char *user = NULL, *pass = NULL;
    int port, rc;
    lb_buf b;

    *password = NULL;
    if (ctx->item->source == API_SOURCE_PG_DUMP) {
        cref = json_object_get(json_object_get(ctx->item->source_spec, "target"),
                               "connectionSecretRef");
        name = json_string_value(json_object_get(cref, "name"));
        ukey = json_string_value(json_object_get(cref, "key"));
        rc = step_secret_value(url, ctx, name ? name : "", ukey ? ukey : "");
        if (rc == LB_ENOTFOUND || rc == LB_EINVALID) {
            step_failed(out, "ConnectionSecretNotFound", "%s", lb_error_last());
            return 1;
        }
        return rc;
    }
    if (step_item_endpoint(&host, &port, ctx) != 0) {
        step_failed(out, "NoEndpoint", "item %s has no restored endpoint in status.outputs",
                    ctx->item->name);
        return 1;
    }
    cref = json_object_get(spec, "credentialsSecretRef");
    name = json_string_value(json_object_get(cref, "name"));
    ukey = json_string_value(json_object_get(cref, "usernameKey"));
    pkey = json_string_value(json_object_get(cref, "passwordKey"));
    db = json_string_value(json_object_get(spec, "database"));
    if (name == NULL || db == NULL) {
        step_failed(out, "InvalidSpec",
                    "items[%zu]: migrations need credentialsSecretRef and "
                    "database",
                    ctx->item->index);
        return 1;
    }
    rc = step_secret_value(&user, ctx, name, ukey ? ukey : "username");
    if (rc == 0)
        rc = step_secret_value(&pass, ctx, name, pkey ? pkey : "password");
    if (rc == LB_ENOTFOUND || rc == LB_EINVALID) {
        step_failed(out, "CredentialsNotFound", "%s", lb_error_last());
        wipe_free(user);
        wipe_free(pass);
        return 1;
    }
    if (rc != 0) {
        wipe_free(user);
        wipe_free(pass);
        return rc;
    }
    buf_init(&b, 64 * 1024);
    buf_append_str(&b, "postgres://");
    url_escape(&b, user);
    buf_append_str(&b, ":");
    url_escape(&b, pass);
    buf_printf(&b, strchr(host, ':') ? "@[%s]:%d/" : "@%s:%d/", host, port);
    url_escape(&b, db);
    *url = buf_detach(&b, NULL);
    *password = pass;
    wipe_free(user);
    return 0;
}

static int migrations_secret(step_result *out, const step_ctx *ctx, const char *name,
                             const char *url)
{
    kube_ref ref = secret_ref(ctx, name);
    json_t *s = NULL;
    char *b64 = b64_encode(url, strlen(url));
    int rc = kube_get(&s, ctx->kube, &ref);

    if (rc == LB_ENOTFOUND) {
        json_t *body = json_pack("{s:s, s:s, s:o, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
                                 "Secret", "metadata", object_meta(ctx, name), "type", "Opaque",
                                 "data", MIGRATIONS_URL_KEY, b64);
        ref.name = NULL; /* POST to the collection */
        rc = kube_create(NULL, ctx->kube, &ref, body);
        json_decref(body);
        if (rc != 0)
            rc = lb_error_wrap(rc, "create Secret %s", name);
    } else if (rc != 0) {
        rc = lb_error_wrap(rc, "get Secret %s", name);
    } else if (!owned_by_rr(s, ctx)) {
        rc = 1;
        step_failed(out, "SecretNotOwned",
                    "Secret %s exists but is not owned by this "
                    "RestoreRequest (uid %s)",
                    name, rr_uid(ctx));
    } else {
        const char *have =
            json_string_value(json_object_get(json_object_get(s, "data"), MIGRATIONS_URL_KEY));
        if (have == NULL || strcmp(have, b64) != 0) {
            json_t *patch = json_pack("{s:{s:s}}", "data", MIGRATIONS_URL_KEY, b64);
            rc = patch_json(NULL, ctx, &ref, KUBE_PATCH_MERGE, patch);
            if (rc != 0)
                rc = lb_error_wrap(rc, "update Secret %s", name);
        }
    }
    json_decref(s);
    wipe_free(b64);
    return rc;
}

static json_t *migrations_job(const step_ctx *ctx, const char *secret)
{
    const json_t *m = json_object_get(ctx->item->spec, "migrations");
    const char *url_env = json_string_value(json_object_get(m, "databaseURLEnv"));
    const char *sa = json_string_value(json_object_get(m, "serviceAccountName"));
    const json_t *extra = json_object_get(m, "env");
    const json_t *bl = json_object_get(m, "backoffLimit");
    const json_t *to = json_object_get(m, "timeoutSeconds");
    json_t *env = json_array(), *container, *pod, *body;
    size_t i;
    const json_t *v;

    json_array_foreach(extra, i, v)
    {
        const char *n = json_string_value(json_object_get(v, "name"));
        if (n != NULL && url_env != NULL && strcmp(n, url_env) == 0)
            continue; /* the URL comes from the Secret, whatever the spec says */
        json_array_append_new(env, json_deep_copy(v));
    }
    json_array_append_new(
        env, json_pack("{s:s, s:{s:{s:s, s:s}}}", "name", url_env ? url_env : "DATABASE_URL",
                       "valueFrom", "secretKeyRef", "name", secret, "key", MIGRATIONS_URL_KEY));
    container = json_pack("{s:s, s:s, s:o, s:o}", "name", MIGRATIONS_CONTAINER, "image",
                          json_string_value(json_object_get(m, "image")), "command",
                          json_deep_copy(json_object_get(m, "command")), "env", env);
    if (json_object_get(m, "args") != NULL)
        json_object_set_new(container, "args", json_deep_copy(json_object_get(m, "args")));
    pod = json_pack("{s:s, s:[o]}", "restartPolicy", "Never", "containers", container);
    if (sa != NULL)
        json_object_set_new(pod, "serviceAccountName", json_string(sa));
    /* backoffLimit defaults to 0 (CRD): migrations are rarely idempotent, and a
     * retry would run them again on a half-migrated copy; a failure is reported
     * with its log instead. */
    body = json_pack("{s:{s:I, s:I, s:{s:o}}}", "spec", "backoffLimit",
                     json_is_integer(bl) ? json_integer_value(bl) : (json_int_t)0,
                     "activeDeadlineSeconds",
                     json_is_integer(to) ? json_integer_value(to) : (json_int_t)1800, "template",
                     "spec", pod);
    return body;
}

/* Returns s (freed) with every occurrence of needle replaced by [REDACTED], as
 * a new string. */
static char *scrub(char *s, const char *needle)
{
    lb_buf b;
    size_t n;
    const char *p = s, *hit;

    if (needle == NULL || (n = strlen(needle)) == 0)
        return s;
    buf_init(&b, KUBE_MAX_LOG_BYTES * 2);
    while ((hit = strstr(p, needle)) != NULL) {
        buf_append(&b, p, (size_t)(hit - p));
        buf_append_str(&b, "[REDACTED]");
        p = hit + n;
    }
    buf_append_str(&b, p);
    free(s);
    return buf_detach(&b, NULL);
}

/* The last lines of the newest pod of the Job, redacted, flattened to one line,
 * at most MIGRATIONS_LOG_KEEP bytes; a new string, never NULL. */
static char *migrations_log_tail(const step_ctx *ctx, const char *job, const char *password)
{
    char *text = jobrun_log(ctx, job, MIGRATIONS_CONTAINER), *red;
    size_t len;

    if (text == NULL)
        return lb_sprintf("(log unavailable: %s)", lb_error_last());
    if (password != NULL && strlen(password) < MIGRATIONS_SCRUB_MIN) {
        /* too short to scrub without mangling the text around it */
        free(text);
        return lb_strdup("(log withheld: the database password is too short to redact)");
    }
    if (password != NULL) {
        lb_buf esc;
        char *e;
        buf_init(&esc, 64 * 1024);
        url_escape(&esc, password);
        e = buf_detach(&esc, NULL);
        text = scrub(text, password);
        text = scrub(text, e); /* as it appears in the URL */
        wipe_free(e);
    }
    red = lb_log_redact_url(text);
    free(text);
    for (char *c = red; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
        else if ((unsigned char)*c < 0x20)
            *c = '?';
    len = strlen(red);
    while (len > 0 && red[len - 1] == ' ')
        red[--len] = '\0';
    if (len > MIGRATIONS_LOG_KEEP) {
        char *cut = lb_sprintf("...%s", red + len - MIGRATIONS_LOG_KEEP);
        free(red);
        red = cut;
    }
    return red;
}

int kube_step_migrations(step_result *out, const step_ctx *ctx)
{
    char job[KUBE_NAME_MAX + 1], secret[KUBE_NAME_MAX + 1];
    jobrun_state st;
    const char *reason = NULL;
    char *url = NULL, *password = NULL;
    int rc;

    if (need_item(out, ctx))
        return 0;
    if (json_object_get(ctx->item->spec, "migrations") == NULL)
        return step_done(out, "item %s has no migrations", ctx->item->name);
    item_object_name(job, sizeof(job), ctx, "migrations");
    item_object_name(secret, sizeof(secret), ctx, "migrations-db");
    if ((rc = jobrun_observe(&st, &reason, ctx, job)) != 0)
        goto done;
    switch (st) {
    case JOBRUN_ABSENT:
        rc = migrations_url(&url, &password, out, ctx);
        if (rc != 0)
            goto done;
        rc = migrations_secret(out, ctx, secret, url);
        if (rc != 0)
            goto done;
        if ((rc = jobrun_create(ctx, job, migrations_job(ctx, secret))) != 0)
            goto done;
        step_wait(out, STEP_POLL_MS, "migrations Job %s created; waiting for it to finish", job);
        break;
    case JOBRUN_FOREIGN:
        step_failed(out, "JobNotOwned",
                    "Job %s exists but is not owned by this RestoreRequest "
                    "(uid %s)",
                    job, rr_uid(ctx));
        break;
    case JOBRUN_COMPLETE:
        step_done(out, "migrations Job %s completed", job);
        break;
    case JOBRUN_FAILED: {
        char *tail;
        if (ctx->item->source != API_SOURCE_PG_DUMP) {
            /* the password alone may be echoed by a tool; scrub it too */
            const json_t *cref = json_object_get(ctx->item->spec, "credentialsSecretRef");
            const char *pkey = json_string_value(json_object_get(cref, "passwordKey"));
            const char *cname = json_string_value(json_object_get(cref, "name"));
            if (cname != NULL &&
                step_secret_value(&password, ctx, cname, pkey ? pkey : "password") != 0)
                password = NULL;
        }
        tail = migrations_log_tail(ctx, job, password);
        step_failed(out, "MigrationsFailed", "migrations Job %s failed (%s); last log lines: %s",
                    job, reason != NULL && reason[0] ? reason : "Failed", tail);
        free(tail);
        break;
    }
    default:
        step_wait(out, STEP_POLL_MS, "waiting for migrations Job %s", job);
        break;
    }
    rc = 0;
done:
    wipe_free(url);
    wipe_free(password);
    return rc < 0 ? rc : 0;
}
