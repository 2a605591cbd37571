/* restore/reconcile.c - the RestoreRequest kind: everything goes through the step engine. */
#include "controller/restore/reconcile.h"

#include "api/common.h"
#include "api/scope.h"
#include "controller/restore/access.h"
#include "controller/restore/assume.h"
#include "controller/restore/engine.h"
#include "controller/restore/scope.h"
#include "util/alloc.h"
#include "util/error.h"

#include <stdio.h>

/* The requester's SubjectAccessReviews (restore/access.h) for a request that
 * has not started, as the recorded user with the groups they claimed:
 * *refusals (new string) when some are refused or the claimed groups are
 * invalid, NULL when all are allowed or no requester is recorded. Returns 0,
 * or a negative code when a review could not be made (the reconcile
 * retries). */
static int review_references(char **refusals, kube_client *kube, const json_t *obj)
{
    const json_t *md = json_object_get(obj, "metadata");
    const json_t *ann = json_object_get(md, "annotations");
    const char *user = api_get_str(ann, ENGINE_REQUESTER_ANNOTATION);
    access_need *needs = NULL;
    access_groups *groups = NULL;
    api_errors errs = {0};
    int n, rc = 0;

    *refusals = NULL;
    if (user == NULL || user[0] == '\0')
        return 0;
    groups = lb_calloc(1, sizeof(*groups));
    if (access_groups_parse(groups, api_get_str(ann, ACCESS_GROUPS_ANNOTATION)) != 0) {
        *refusals = lb_strdup(lb_error_last());
        goto done;
    }
    needs = lb_calloc(ACCESS_MAX_CHECKS, sizeof(*needs));
    n = access_collect(needs, ACCESS_MAX_CHECKS, json_object_get(obj, "spec"));
    if (n < 0) {
        *refusals = lb_strdup(lb_error_last());
        goto done;
    }
    rc = access_review(&errs, kube, api_get_str(md, "namespace"), user, groups, needs, (size_t)n);
    if (rc == LB_EINVALID) {
        *refusals = api_errors_join(&errs);
        rc = 0;
    }
done:
    api_errors_dispose(&errs);
    free(needs);
    free(groups);
    return rc;
}

static int restore_run(ctrl_result *out, const ctrl_env *env, const json_t *obj);

/* What the cache keeps of a RestoreRequest: what engine_settled() and the
 * start of restore_run() read, and every field whose change must reach a
 * reconcile (an event that changes nothing kept queues nothing: manager.c).
 * The plan, the steps and the spec are read fresh when there is work. */
static const char *const restore_keep[] = {CTRL_KEEP_IDENTITY,
                                           "/metadata/annotations/lifeboat.dev~1approve",
                                           "/metadata/annotations/lifeboat.dev~1approve-plan",
                                           "/metadata/annotations/lifeboat.dev~1abort",
                                           "/status/startedAt",
                                           "?/status/steps",
                                           NULL};

const ctrl_kind ctrl_kind_restore = {
    .controller = "restore",
    .kind = "RestoreRequest",
    .resource = "restorerequests",
    .has_phase = 1,
    .desired = restore_desired_status,
    .run = restore_run,
    .keep = restore_keep,
};

int restore_desired_status(json_t *status, const json_t *obj, lb_time now)
{
    engine_out out;
    return engine_step(status, &out, NULL, obj, now, NULL);
}

static int restore_act(ctrl_result *out, const ctrl_env *env, const json_t *obj);

/* obj is the cached kept view (restore_keep): it decides whether there is
 * work; the reconcile acts on the object read fresh from the API server. */
static int restore_run(ctrl_result *out, const ctrl_env *env, const json_t *cached)
{
    const json_t *md = json_object_get(cached, "metadata");
    kube_ref ref = {.group = API_GROUP,
                    .version = API_VERSION,
                    .resource = "restorerequests",
                    .namespace = api_get_str(md, "namespace"),
                    .name = api_get_str(md, "name")};
    json_t *obj = NULL;
    int rc;

    out->outcome = CTRL_SKIPPED;
    out->requeue_ms = -1;
    if (engine_settled(cached))
        return 0;
    rc = kube_get(&obj, env->client, &ref);
    if (rc == LB_ENOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    rc = restore_act(out, env, obj);
    json_decref(obj);
    return rc;
}

static int restore_act(ctrl_result *out, const ctrl_env *env, const json_t *obj)
{
    engine_env ee = {.kube = env->client,
                     .aws = env->aws,
                     .recorder = env->recorder,
                     .metrics = env->restore_metrics};
    engine_out eo;
    json_t *scope = NULL;
    char *scope_error = NULL, *access_error = NULL;
    const json_t *st = json_object_get(obj, "status");
    const json_t *md = json_object_get(obj, "metadata");
    const char *role = api_get_str(json_object_get(st, "scope"), "roleArn");
    int wrote = 0, rc;

    out->outcome = CTRL_SKIPPED;
    out->requeue_ms = -1;
    if (engine_settled(obj))
        return 0;
    /* deny by default (DESIGN.md 3.4): a request that has not started needs
     * the RecoveryScope of its namespace */
    ee.enforce_scopes = 1;
    if (!json_is_array(json_object_get(st, "steps")) || api_get_str(st, "startedAt") == NULL) {
        rc = rscope_lookup(&scope, env->client,
                           api_get_str(json_object_get(obj, "metadata"), "namespace"));
        if (rc == LB_ENOTFOUND || rc == LB_ECONFLICT)
            scope_error = lb_strdup(lb_error_last());
        else if (rc != 0)
            return rc;
        if (scope != NULL) {
            rc = review_references(&access_error, env->client, obj);
            if (rc != 0) {
                json_decref(scope);
                return rc;
            }
        }
        ee.scope = scope;
        ee.scope_error = scope_error;
        ee.access_error = access_error;
        role = scope != NULL ? api_scope_role_arn(scope) : NULL;
    }
    /* AWS as the scope's role: the run's role is the one recorded at its start */
    if (role != NULL && role[0] != '\0' && env->aws != NULL) {
        aws_client *as_role = NULL;
        rc = assume_client(&as_role, env->aws, role, api_get_str(md, "namespace"),
                           api_get_str(md, "name"));
        if (rc != 0) {
            json_decref(scope);
            free(scope_error);
            free(access_error);
            return rc;
        }
        ee.aws = as_role;
        ee.role_arn = role;
        ee.aws_base = env->aws;
    }
    rc = engine_reconcile(&eo, &wrote, &ee, obj, lb_time_now());
    json_decref(scope);
    free(scope_error);
    free(access_error);
    if (rc != 0)
        return rc;
    out->outcome = wrote ? CTRL_WRITTEN : CTRL_UNCHANGED;
    out->requeue_ms = eo.requeue_ms;
    snprintf(out->resource_version, sizeof(out->resource_version), "%s", eo.resource_version);
    return 0;
}
