/* restore/step.c - helpers every step uses (see step.h for the contract). */
#include "step.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/config.h"
#include "util/alloc.h"
#include "util/error.h"

__attribute__((format(printf, 4, 0))) static int
step_set(step_result *out, step_verdict v, const char *reason, const char *fmt, va_list ap)
{
    out->verdict = v;
    snprintf(out->reason, sizeof(out->reason), "%s", reason ? reason : "");
    vsnprintf(out->message, sizeof(out->message), fmt, ap);
    return 0;
}

int step_done(step_result *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    step_set(out, STEP_DONE, NULL, fmt, ap);
    va_end(ap);
    return 0;
}

int step_wait(step_result *out, int64_t requeue_ms, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    step_set(out, STEP_WAIT, NULL, fmt, ap);
    va_end(ap);
    out->requeue_ms = requeue_ms < 0 ? 0 : requeue_ms;
    return 0;
}

int step_failed(step_result *out, const char *reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    step_set(out, STEP_FAILED, reason, fmt, ap);
    va_end(ap);
    return 0;
}

static json_t *step_output_obj(step_result *out)
{
    if (out->output == NULL)
        out->output = json_object();
    return out->output;
}

void step_output_str(step_result *out, const char *key, const char *value)
{
    json_object_set_new(step_output_obj(out), key, json_string(value ? value : ""));
}

void step_output_int(step_result *out, const char *key, json_int_t value)
{
    json_object_set_new(step_output_obj(out), key, json_integer(value));
}

int step_started_at(lb_time *out, const step_ctx *ctx, const char *name)
{
    const json_t *steps = json_object_get(ctx->status, "steps");
    size_t i;
    const json_t *s;

    json_array_foreach(steps, i, s)
    {
        const char *n = json_string_value(json_object_get(s, "name"));
        const char *at = json_string_value(json_object_get(s, "startedAt"));
        if (n == NULL || strcmp(n, name) != 0)
            continue;
        if (at == NULL || at[0] == '\0')
            break;
        if (lb_time_parse_rfc3339(out, at) != 0)
            return lb_error_wrap(LB_ERROR, "status.steps[%zu].startedAt", i);
        return 0;
    }
    return lb_error_setc(LB_ENOTFOUND, "step %s has not started", name);
}

void step_format_compact(char *buf, size_t size, lb_time t)
{
    int64_t days = t.sec >= 0 ? t.sec / 86400 : -((-t.sec + 86399) / 86400);
    int64_t secs = t.sec - days * 86400;
    int64_t year;
    int month, day;

    lb_time_civil_from_days(&year, &month, &day, days);
    snprintf(buf, size, "%04d%02d%02d%02d%02d%02d", (int)year, month, day, (int)(secs / 3600),
             (int)(secs / 60 % 60), (int)(secs % 60));
}

const json_t *step_item_output(const step_ctx *ctx)
{
    const json_t *outputs = json_object_get(ctx->status, "outputs");
    size_t i;
    const json_t *o;

    if (ctx->item == NULL)
        return NULL;
    json_array_foreach(outputs, i, o)
    {
        const char *item = json_string_value(json_object_get(o, "item"));
        if (item != NULL && strcmp(item, ctx->item->name) == 0)
            return o;
    }
    return NULL;
}

void step_tags_of(step_tags *out, const step_ctx *ctx)
{
    const json_t *md = json_object_get(ctx->rr, "metadata");
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    const char *name = json_string_value(json_object_get(md, "name"));
    const char *uid = json_string_value(json_object_get(md, "uid"));
    const char *kind = json_string_value(json_object_get(ctx->rr, "kind"));

    memset(out, 0, sizeof(*out));
    /* a VerificationRun's drill runs these steps too (verify/run.h) */
    snprintf(out->owner, sizeof(out->owner), "%s/%s/%s",
             kind != NULL && strcmp(kind, "VerificationRun") == 0 ? kind : "RestoreRequest",
             ns ? ns : "", name ? name : "");
    out->uid = uid ? uid : "";
}

int step_secret_value(char **out, const step_ctx *ctx, const char *name, const char *key)
{
    const json_t *md = json_object_get(ctx->rr, "metadata");
    kube_ref ref = {
        .group = "",
        .version = "v1",
        .resource = "secrets",
        .namespace = json_string_value(json_object_get(md, "namespace")),
        .name = name,
    };
    json_t *secret = NULL;
    const char *b64;
    unsigned char *raw = NULL;
    size_t len = 0;
    int rc;

    rc = kube_get(&secret, ctx->kube, &ref);
    if (rc == LB_ENOTFOUND) {
        rc = lb_error_setc(LB_ENOTFOUND, "Secret %s not found", name);
        goto done;
    }
    if (rc != 0)
        goto done;
    b64 = json_string_value(json_object_get(json_object_get(secret, "data"), key));
    if (b64 == NULL) {
        rc = lb_error_setc(LB_ENOTFOUND, "Secret %s has no key %s", name, key);
        goto done;
    }
    rc = kube_base64_decode(&raw, &len, b64, strlen(b64));
    if (rc != 0) {
        rc = lb_error_setc(LB_EINVALID, "Secret %s key %s: not valid base64", name, key);
        goto done;
    }
    *out = lb_strndup((const char *)raw, len);
    if (strlen(*out) != len) {
        free(*out);
        *out = NULL;
        rc = lb_error_setc(LB_EINVALID, "Secret %s key %s: value contains a NUL byte", name, key);
        goto done;
    }
done:
    if (raw != NULL) {
        memset(raw, 0, len);
        free(raw);
    }
    json_decref(secret);
    return rc;
}

int step_item_endpoint(const char **out_host, int *out_port, const step_ctx *ctx)
{
    const json_t *o = step_item_output(ctx);
    const char *host = json_string_value(json_object_get(o, "endpoint"));
    const json_t *port = json_object_get(o, "port");

    if (host == NULL || host[0] == '\0' || !json_is_integer(port))
        return lb_error_setc(LB_ENOTFOUND, "item %s has no endpoint yet",
                             ctx->item ? ctx->item->name : "?");
    *out_host = host;
    *out_port = (int)json_integer_value(port);
    return 0;
}
