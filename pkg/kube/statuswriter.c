/* statuswriter.c - /status writes with a re-read on 409. */
#include "kube/statuswriter.h"

#include <string.h>

#include "util/error.h"

/* A copy of obj's status (an empty object when it has none). */
static json_t *status_copy(const json_t *obj)
{
    json_t *st = json_object_get(obj, "status");
    if (json_is_object(st))
        return json_deep_copy(st);
    return json_object();
}

int kube_status_update(json_t **out, int *out_written, kube_client *c, const kube_ref *ref,
                       const json_t *obj, kube_status_fn fn, void *payload, int max_attempts)
{
    int result = 0;
    json_t *cur = json_incref((json_t *)obj);
    json_t *status = NULL, *body = NULL, *answer = NULL;
    kube_ref obj_ref = *ref, status_ref = *ref;
    int attempt;

    if (out != NULL)
        *out = NULL;
    if (out_written != NULL)
        *out_written = 0;
    if (ref->name == NULL || !json_is_object(obj)) {
        result = lb_error_setc(LB_EINVALID, "status update: the object and its name are required");
        goto done;
    }
    obj_ref.subresource = NULL;
    status_ref.subresource = "status";
    if (max_attempts <= 0)
        max_attempts = KUBE_STATUS_DEFAULT_ATTEMPTS;
    if (max_attempts > KUBE_STATUS_MAX_ATTEMPTS)
        max_attempts = KUBE_STATUS_MAX_ATTEMPTS;

    for (attempt = 1;; attempt++) {
        json_t *before = json_object_get(cur, "status");
        status = status_copy(cur);
        result = fn(status, cur, payload);
        if (result < 0)
            goto done;
        result = 0;
        if (json_equal(status, before) || (before == NULL && json_object_size(status) == 0)) {
            if (out != NULL)
                *out = json_incref(cur);
            goto done;
        }
        body = json_copy(cur); /* shallow: only the status member is replaced */
        json_object_set_new(body, "status", status);
        status = NULL;
        result = kube_replace(&answer, c, &status_ref, body);
        json_decref(body);
        body = NULL;
        if (result == 0) {
            if (out_written != NULL)
                *out_written = 1;
            if (out != NULL)
                *out = answer;
            else
                json_decref(answer);
            answer = NULL;
            goto done;
        }
        if (result != LB_ECONFLICT)
            goto done;
        if (attempt >= max_attempts) {
            result = lb_error_setc(
                LB_ECONFLICT, "status update of %s/%s: still conflicting after %d attempts",
                ref->namespace != NULL ? ref->namespace : "", ref->name, attempt);
            goto done;
        }
        json_decref(cur);
        cur = NULL;
        result = kube_get(&cur, c, &obj_ref);
        if (result != 0)
            goto done;
    }

done:
    json_decref(status);
    json_decref(body);
    json_decref(answer);
    json_decref(cur);
    return result;
}
