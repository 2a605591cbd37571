/* agentjob.c - a lifeboat-agent command as a Job (see agentjob.h). */
#include "controller/agentjob.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/error.h"
#include "util/log.h"
#include "util/timeutil.h"

#define AJ_LOG_LINES     40
#define AJ_LOG_BYTES     16384
#define AJ_LOG_KEEP      700
#define LABEL_MANAGED_BY "app.kubernetes.io/managed-by"

void steps_kube__object_name(char *out, size_t size, const char *full);

void agentjob_object_name(char *out, size_t size, const char *full)
{
    steps_kube__object_name(out, size, full);
}

static const char *md_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

json_t *agentjob_secret_env(const char *name, const json_t *ref)
{
    return json_pack("{s:s, s:{s:{s:s, s:s}}}", "name", name, "valueFrom", "secretKeyRef", "name",
                     json_string_value(json_object_get(ref, "name")), "key",
                     json_string_value(json_object_get(ref, "key")));
}

static const char *const aws_keys[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                       "AWS_SESSION_TOKEN"};

void agentjob_aws_secret_name(char *out, size_t size, const char *job)
{
    char full[320];
    snprintf(full, sizeof(full), "%s-aws", job);
    agentjob_object_name(out, size, full);
}

static json_t *owner_meta(const agentjob_spec *s, const char *name)
{
    char who[320];
    snprintf(who, sizeof(who), "%s/%s", s->ns, s->owner_name);
    return json_pack("{s:s, s:s, s:{s:s}, s:{s:s}, s:[{s:s, s:s, s:s, s:s, s:b, s:b}]}", "name",
                     name, "namespace", s->ns, "labels", LABEL_MANAGED_BY, "lifeboat",
                     "annotations", s->annotation, who, "ownerReferences", "apiVersion",
                     s->owner_api, "kind", s->owner_kind, "name", s->owner_name, "uid",
                     s->owner_uid, "controller", 1, "blockOwnerDeletion", 1);
}

json_t *agentjob_aws_secret(const agentjob_spec *s, const aws_credentials *cr)
{
    json_t *sec = json_pack("{s:s, s:s, s:o, s:s, s:{s:s, s:s, s:s}}", "apiVersion", "v1", "kind",
                            "Secret", "metadata", owner_meta(s, s->aws_secret), "type", "Opaque",
                            "stringData", aws_keys[0], cr->access_key_id ? cr->access_key_id : "",
                            aws_keys[1], cr->secret_access_key ? cr->secret_access_key : "",
                            aws_keys[2], cr->session_token ? cr->session_token : "");
    char exp[LB_TIME_RFC3339_MAX];
    if (cr->expiration > 0 &&
        lb_time_format(exp, sizeof(exp), (lb_time){.sec = cr->expiration}, 0) == 0) {
        /* the agent's files carry it (a key), the operator's renewal reads it (annotation) */
        json_object_set_new(json_object_get(sec, "stringData"), AGENTJOB_AWS_EXPIRY_KEY,
                            json_string(exp));
        json_object_set_new(json_object_get(json_object_get(sec, "metadata"), "annotations"),
                            AGENTJOB_AWS_EXPIRY_ANN, json_string(exp));
    }
    return sec;
}

int agentjob_put_aws_secret(int *out_foreign, kube_client *kube, const agentjob_spec *s,
                            const aws_credentials *cr)
{
    kube_ref ref = {.group = "", .version = "v1", .resource = "secrets", .namespace = s->ns};
    json_t *cur = NULL, *body = agentjob_aws_secret(s, cr);
    int rc;

    *out_foreign = 0;
    rc = kube_create(NULL, kube, &ref, body);
    if (rc == LB_ECONFLICT) { /* exists: ours from an attempt cut short, or someone else's */
        ref.name = s->aws_secret;
        rc = kube_get(&cur, kube, &ref);
        if (rc == 0 && !agentjob_owned(cur, s->owner_uid)) {
            *out_foreign = 1;
        } else if (rc == 0) { /* fresh credentials: a new attempt, or renewed */
            /* a merge patch (RBAC grants secrets get/create/patch, not update):
             * stringData and the expiry annotation, on the version whose owner was
             * just checked (resourceVersion: a 409 if it changed in between) */
            const char *rv = md_str(cur, "resourceVersion");
            json_t *md = json_object_get(body, "metadata");
            json_t *patch = json_pack("{s:{s:O}, s:O}", "metadata", "annotations",
                                      json_object_get(md, "annotations"), "stringData",
                                      json_object_get(body, "stringData"));
            if (rv != NULL)
                json_object_set_new(json_object_get(patch, "metadata"), "resourceVersion",
                                    json_string(rv));
            char *text = json_dumps(patch, JSON_COMPACT);
            rc = kube_patch(NULL, kube, &ref, KUBE_PATCH_MERGE, text, strlen(text), NULL);
            lb_free_secret(text);
            json_decref(patch);
        }
    }
    json_decref(cur);
    json_decref(body);
    return rc != 0 ? lb_error_wrap(rc, "write Secret %s", s->aws_secret) : 0;
}

json_t *agentjob_build(const agentjob_spec *s, json_t *cmd, json_t *env)
{
    static const char *const aws_env[] = {"AWS_REGION",
                                          "AWS_DEFAULT_REGION",
                                          "AWS_ENDPOINT_URL",
                                          "AWS_ENDPOINT_URL_S3",
                                          "AWS_S3_FORCE_PATH_STYLE",
                                          "AWS_CA_BUNDLE",
                                          NULL};
    const char *image = getenv("LIFEBOAT_AGENT_IMAGE");

    json_array_append_new(
        env, json_pack("{s:s, s:s}", "name", "LIFEBOAT_WORK_DIR", "value", AGENTJOB_WORK_DIR));
    for (const char *const *e = aws_env; *e != NULL; e++) {
        const char *val = getenv(*e);
        if (val != NULL && val[0] != '\0')
            json_array_append_new(env, json_pack("{s:s, s:s}", "name", *e, "value", val));
    }
    if (s->aws_secret != NULL) /* the scope role's session, minted for this Job: files */
        json_array_append_new(env, json_pack("{s:s, s:s}", "name", AWS_SESSION_DIR_ENV, "value",
                                             AGENTJOB_AWS_SESSION_DIR));
    json_t *container =
        json_pack("{s:s, s:s, s:o, s:o, s:[{s:s, s:s}]}", "name", AGENTJOB_CONTAINER, "image",
                  image != NULL ? image : AGENTJOB_DEFAULT_IMAGE, "command", cmd, "env", env,
                  "volumeMounts", "name", "work", "mountPath", AGENTJOB_WORK_DIR);
    if (s->aws_secret == NULL)
        json_object_set_new(
            container, "envFrom",
            json_pack("[{s:{s:s, s:b}}]", "secretRef", "name", AGENTJOB_AWS_SECRET, "optional", 1));
    json_t *pod = json_pack("{s:s, s:[o], s:[{s:s, s:{}}]}", "restartPolicy", "Never", "containers",
                            container, "volumes", "name", "work", "emptyDir");
    if (s->aws_secret != NULL) { /* a volume, not env: the kubelet refreshes it when renewed */
        json_array_append_new(json_object_get(container, "volumeMounts"),
                              json_pack("{s:s, s:s, s:b}", "name", "aws-session", "mountPath",
                                        AGENTJOB_AWS_SESSION_DIR, "readOnly", 1));
        json_array_append_new(json_object_get(pod, "volumes"),
                              json_pack("{s:s, s:{s:s}}", "name", "aws-session", "secret",
                                        "secretName", s->aws_secret));
    }
    if (s->service_account != NULL)
        json_object_set_new(pod, "serviceAccountName", json_string(s->service_account));
    else /* the agent never talks to the API server: no token in its pod */
        json_object_set_new(pod, "automountServiceAccountToken", json_false());
    json_t *meta = owner_meta(s, s->name);
    json_t *job = json_pack("{s:s, s:s, s:o, s:{s:i, s:i, s:{s:{s:{s:s}}, s:o}}}", "apiVersion",
                            "batch/v1", "kind", "Job", "metadata", meta, "spec", "backoffLimit", 0,
                            "activeDeadlineSeconds", AGENTJOB_DEADLINE_S, "template", "metadata",
                            "labels", LABEL_MANAGED_BY, "lifeboat", "spec", pod);
    if (s->completions > 1) {
        json_t *spec = json_object_get(job, "spec");
        int par =
            s->parallelism > 0 && s->parallelism < s->completions ? s->parallelism : s->completions;
        json_object_set_new(spec, "completionMode", json_string("Indexed"));
        json_object_set_new(spec, "completions", json_integer(s->completions));
        json_object_set_new(spec, "parallelism", json_integer(par));
    }
    return job;
}

int agentjob_owned(const json_t *obj, const char *uid)
{
    const json_t *refs = json_object_get(json_object_get(obj, "metadata"), "ownerReferences");
    size_t i;
    const json_t *r;
    json_array_foreach(refs, i, r)
    {
        const char *u = json_string_value(json_object_get(r, "uid"));
        if (u != NULL && uid != NULL && uid[0] != '\0' && strcmp(u, uid) == 0)
            return 1;
    }
    return 0;
}

int agentjob_condition(const json_t *job, const char *type)
{
    const json_t *conds = json_object_get(json_object_get(job, "status"), "conditions");
    size_t i;
    const json_t *c;
    json_array_foreach(conds, i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "type")) ?: "", type) == 0 &&
            strcmp(json_string_value(json_object_get(c, "status")) ?: "", "True") == 0)
            return 1;
    }
    return 0;
}

static int pod_failed(const json_t *pod)
{
    const char *phase = json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));
    return phase != NULL && strcmp(phase, "Failed") == 0;
}

/* The log of the Job's newest pod, or of its newest failed pod when
 * prefer_failed and there is one (an Indexed Job whose other indexes ran
 * later); caller frees; NULL with the message set. */
static char *job_log(kube_client *kube, const char *ns, const char *job, int prefer_failed)
{
    kube_ref pods = {.group = "", .version = "v1", .resource = "pods", .namespace = ns};
    kube_list_options lo = {0};
    json_t *list = NULL;
    const json_t *p, *newest = NULL;
    char *sel = lb_sprintf("job-name=%s", job), *text = NULL;
    size_t i, len = 0;
    lo.label_selector = sel;
    int rc = kube_list(&list, kube, &pods, &lo);
    free(sel);
    if (rc == 0) {
        json_array_foreach(json_object_get(list, "items"), i, p)
        {
            const char *ts = md_str(p, "creationTimestamp");
            const char *best = newest ? md_str(newest, "creationTimestamp") : NULL;
            int better = prefer_failed && newest != NULL ? pod_failed(p) - pod_failed(newest) : 0;
            if (newest == NULL || better > 0 ||
                (better == 0 && ts != NULL && best != NULL && strcmp(ts, best) >= 0))
                newest = p;
        }
    }
    if (rc == 0 && newest == NULL) {
        lb_error_set("no pod of Job %s found", job);
        rc = LB_ENOTFOUND;
    }
    if (rc == 0) {
        pods.name = md_str(newest, "name");
        pods.subresource = "log";
        char *q = lb_sprintf("container=%s&tailLines=%d&limitBytes=%d", AGENTJOB_CONTAINER,
                             AJ_LOG_LINES, AJ_LOG_BYTES);
        rc = kube_get_text(&text, &len, kube, &pods, q);
        free(q);
    }
    json_decref(list);
    return rc == 0 ? text : NULL;
}

/* The agent's JSON result: the last log line that parses as an object. */
static json_t *job_result(const char *log)
{
    const char *end = log + strlen(log);
    while (end > log) {
        const char *start = end;
        while (start > log && start[-1] != '\n')
            start--;
        if (start < end && *start == '{') {
            json_t *j = json_loadb(start, (size_t)(end - start), 0, NULL);
            if (json_is_object(j))
                return j;
            json_decref(j);
        }
        end = start > log ? start - 1 : log;
    }
    return NULL;
}

static char *log_tail(const char *log)
{
    char *red = lb_log_redact_url(log);
    size_t len = strlen(red);
    for (char *c = red; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
        else if ((unsigned char)*c < 0x20)
            *c = '?';
    if (len > AJ_LOG_KEEP) {
        char *cut = lb_sprintf("...%s", red + len - AJ_LOG_KEEP);
        free(red);
        red = cut;
    }
    return red;
}

int agentjob_run(agentjob_state *out_state, json_t **out_result, char *msg, size_t size,
                 kube_client *kube, const agentjob_spec *s, json_t *(*build)(void *payload),
                 void *payload)
{
    kube_ref ref = {.group = "batch", .version = "v1", .resource = "jobs", .namespace = s->ns};
    json_t *obj = NULL, *res = NULL;
    char *log = NULL;
    int rc;

    *out_result = NULL;
    msg[0] = '\0';
    ref.name = s->name;
    rc = kube_get(&obj, kube, &ref);
    if (rc == LB_ENOTFOUND) {
        json_t *body = build(payload);
        ref.name = NULL;
        rc = kube_create(NULL, kube, &ref, body);
        json_decref(body);
        if (rc == LB_ECONFLICT) /* created by a previous attempt: observe it next time */
            rc = 0;
        if (rc != 0)
            return lb_error_wrap(rc, "create Job %s", s->name);
        *out_state = AGENTJOB_CREATED;
        snprintf(msg, size, "Job %s created", s->name);
        return 0;
    }
    if (rc != 0)
        return lb_error_wrap(rc, "get Job %s", s->name);
    if (!agentjob_owned(obj, s->owner_uid)) {
        *out_state = AGENTJOB_NOT_OWNED;
        snprintf(msg, size, "Job %s exists but is not owned by this %s", s->name, s->owner_kind);
        goto done;
    }
    int complete = agentjob_condition(obj, "Complete"), failed = agentjob_condition(obj, "Failed");
    if (!complete && !failed) {
        const json_t *st = json_object_get(obj, "status");
        json_int_t completions =
            json_integer_value(json_object_get(json_object_get(obj, "spec"), "completions"));
        *out_state = AGENTJOB_RUNNING;
        if (completions > 1)
            snprintf(msg, size, "waiting for Job %s: %lld/%lld indexes succeeded, %lld running",
                     s->name, (long long)json_integer_value(json_object_get(st, "succeeded")),
                     (long long)completions,
                     (long long)json_integer_value(json_object_get(st, "active")));
        else
            snprintf(msg, size, "waiting for Job %s", s->name);
        goto done;
    }
    log = job_log(kube, s->ns, s->name, failed);
    res = log != NULL ? job_result(log) : NULL;
    if (failed || res == NULL ||
        strcmp(json_string_value(json_object_get(res, "result")) ?: "", "succeeded") != 0) {
        const char *err = json_string_value(json_object_get(res, "error"));
        char *tail = log != NULL ? log_tail(log) : lb_strdup(lb_error_last());
        /* no result line at all: the agent never answered (killed) */
        int answered = json_string_value(json_object_get(res, "result")) != NULL;
        *out_state = failed && !answered ? AGENTJOB_CRASHED : AGENTJOB_FAILED;
        if (err != NULL)
            snprintf(msg, size, "Job %s failed: %s", s->name, err);
        else if (*out_state == AGENTJOB_CRASHED)
            snprintf(msg, size,
                     "Job %s failed without the agent's result (its pod was killed); "
                     "last log lines: %s",
                     s->name, tail);
        else
            snprintf(msg, size, "Job %s failed; last log lines: %s", s->name, tail);
        free(tail);
        goto done;
    }
    *out_state = AGENTJOB_SUCCEEDED;
    *out_result = res;
    res = NULL;
    snprintf(msg, size, "Job %s succeeded", s->name);
done:
    json_decref(obj);
    json_decref(res);
    free(log);
    return 0;
}
