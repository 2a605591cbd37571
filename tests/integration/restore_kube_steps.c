/* restore_kube_steps - runs one Kubernetes restore step (restore/steps_kube.c)
 * of a live RestoreRequest to its verdict, as the step engine would call it,
 * for the e2e suite e2e/apps/tests/test_restore_kube_steps.py.
 *
 *   restore_kube_steps NS RR STEP [--rollback] [--endpoint HOST:PORT]
 *                      [--started-at RFC3339] [--timeout S]
 *
 * The RestoreRequest NS/RR is read from the API server (so ownerReferences
 * carry its real uid), its spec parsed and planned; STEP must be a step of
 * that plan whose action is migrations, patch-secrets, scale-down, scale-up or
 * rollout (--rollback: the undo of patch-secrets, or a rollback rollout).
 * The status given to the step is the object's status plus, when missing, a
 * startedAt for STEP (and "rollback/STEP" with --rollback) - --started-at or
 * now - and, with --endpoint, the item's endpoint in outputs[].
 * The step is called until DONE or FAILED (WAIT sleeps requeue_ms; a transient
 * error retries after 1 s, at most STEP_MAX_ATTEMPTS in a row). Prints
 * "WAIT <message>" when the message changes, "TRANSIENT <message>", then
 * "DONE <message>" (exit 0) or "FAILED <reason> <message>" (exit 2); usage or
 * setup errors exit 1, the timeout (default 120 s) exits 3.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "api/restore.h"
#include "controller/plan.h"
#include "controller/restore/step.h"
#include "kube/client.h"
#include "kube/config.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/timeutil.h"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int usage(void)
{
    fprintf(stderr, "usage: restore_kube_steps NS RR STEP [--rollback] [--endpoint HOST:PORT] "
                    "[--started-at RFC3339] [--timeout S]\n");
    return 1;
}

static void ensure_started(json_t *steps, const char *name, const char *at)
{
    size_t i;
    json_t *s;
    json_array_foreach(steps, i, s)
    {
        const char *n = json_string_value(json_object_get(s, "name"));
        if (n != NULL && strcmp(n, name) == 0) {
            if (json_object_get(s, "startedAt") == NULL)
                json_object_set_new(s, "startedAt", json_string(at));
            return;
        }
    }
    json_array_append_new(
        steps, json_pack("{s:s, s:s, s:s}", "name", name, "phase", "Running", "startedAt", at));
}

int main(int argc, char **argv)
{
    const char *ns, *rr_name, *step_name, *endpoint = NULL, *started = NULL;
    int rollback = 0, timeout_s = 120, rc = 1, transient = 0;
    kube_config *cfg = NULL;
    kube_client *kc = NULL;
    kube_ref ref = {.group = "lifeboat.dev", .version = "v1alpha1", .resource = "restorerequests"};
    json_t *rr = NULL, *status = NULL;
    api_restore_spec *spec = NULL;
    plan *p = NULL;
    const plan_step *ps;
    step_ctx ctx;
    step_fn fn = NULL;
    char now_s[LB_TIME_RFC3339_MAX], last[STEP_MAX_MESSAGE + 8] = "";
    int64_t deadline;
    int idx;

    if (argc < 4)
        return usage();
    ns = argv[1];
    rr_name = argv[2];
    step_name = argv[3];
    for (int i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--rollback") == 0)
            rollback = 1;
        else if (strcmp(argv[i], "--endpoint") == 0 && i + 1 < argc)
            endpoint = argv[++i];
        else if (strcmp(argv[i], "--started-at") == 0 && i + 1 < argc)
            started = argv[++i];
        else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
            timeout_s = atoi(argv[++i]);
        else
            return usage();
    }
    if (kube_config_load_default(&cfg, NULL) != 0 || kube_client_new(&kc, cfg, NULL) != 0) {
        fprintf(stderr, "error: kube config: %s\n", lb_error_last());
        goto done;
    }
    ref.namespace = ns;
    ref.name = rr_name;
    if (kube_get(&rr, kc, &ref) != 0) {
        fprintf(stderr, "error: get RestoreRequest %s/%s: %s\n", ns, rr_name, lb_error_last());
        goto done;
    }
    if (api_restore_parse(&spec, NULL, json_object_get(rr, "spec"), lb_time_now()) != 0 ||
        plan_build(&p, spec) != 0) {
        fprintf(stderr, "error: %s\n", lb_error_last());
        goto done;
    }
    idx = plan_find(p, step_name);
    if (idx < 0) {
        fprintf(stderr, "error: step %s is not in the plan of %s/%s\n", step_name, ns, rr_name);
        goto done;
    }
    ps = &p->steps[idx];
    if (strcmp(ps->action, "migrations") == 0)
        fn = kube_step_migrations;
    else if (strcmp(ps->action, "patch-secrets") == 0)
        fn = rollback ? kube_step_patch_secrets_undo : kube_step_patch_secrets;
    else if (strcmp(ps->action, "scale-down") == 0)
        fn = kube_step_scale_down;
    else if (strcmp(ps->action, "scale-up") == 0)
        fn = kube_step_scale_up;
    else if (strcmp(ps->action, "rollout") == 0)
        fn = kube_step_rollout;
    if (fn == NULL) {
        fprintf(stderr, "error: step %s (action %s) is not a Kubernetes step\n", step_name,
                ps->action);
        goto done;
    }

    lb_time_format(now_s, sizeof(now_s), lb_time_now(), 0);
    status = json_deep_copy(json_object_get(rr, "status"));
    if (!json_is_object(status)) {
        json_decref(status);
        status = json_object();
    }
    if (!json_is_array(json_object_get(status, "steps")))
        json_object_set_new(status, "steps", json_array());
    if (!json_is_array(json_object_get(status, "outputs")))
        json_object_set_new(status, "outputs", json_array());
    ensure_started(json_object_get(status, "steps"), step_name, started ? started : now_s);
    if (rollback) {
        char *rb = lb_sprintf("rollback/%s", step_name);
        ensure_started(json_object_get(status, "steps"), rb, now_s);
        free(rb);
    }
    if (endpoint != NULL && ps->item[0] != '\0') {
        const char *colon = strrchr(endpoint, ':');
        char *host;
        if (colon == NULL) {
            fprintf(stderr, "error: --endpoint wants HOST:PORT\n");
            goto done;
        }
        host = lb_strndup(endpoint, (size_t)(colon - endpoint));
        json_array_append_new(json_object_get(status, "outputs"),
                              json_pack("{s:s, s:s, s:i}", "item", ps->item, "endpoint", host,
                                        "port", atoi(colon + 1)));
        free(host);
    }

    memset(&ctx, 0, sizeof(ctx));
    ctx.kube = kc;
    ctx.rr = rr;
    ctx.status = status;
    ctx.spec = spec;
    ctx.item = ps->item[0] ? api_restore_item_find(spec, ps->item) : NULL;
    ctx.step = ps;
    ctx.rollback = rollback;
    deadline = lb_time_monotonic_ns() + (int64_t)timeout_s * 1000000000LL;
    for (;;) {
        step_result out;
        int r;

        memset(&out, 0, sizeof(out));
        ctx.now = lb_time_now();
        r = fn(&out, &ctx);
        json_decref(out.output);
        if (r < 0) {
            printf("TRANSIENT %s\n", lb_error_last());
            fflush(stdout);
            if (++transient >= STEP_MAX_ATTEMPTS) {
                printf("FAILED Transient %s\n", lb_error_last());
                rc = 2;
                goto done;
            }
            sleep_ms(1000);
        } else if (out.verdict == STEP_DONE) {
            printf("DONE %s\n", out.message);
            rc = 0;
            goto done;
        } else if (out.verdict == STEP_FAILED) {
            printf("FAILED %s %s\n", out.reason, out.message);
            rc = 2;
            goto done;
        } else {
            transient = 0;
            if (strcmp(last, out.message) != 0) {
                printf("WAIT %s\n", out.message);
                fflush(stdout);
                snprintf(last, sizeof(last), "%s", out.message);
            }
            sleep_ms(out.requeue_ms > 0 ? (long)out.requeue_ms : 200);
        }
        if (lb_time_monotonic_ns() > deadline) {
            printf("TIMEOUT after %d s: %s\n", timeout_s, last);
            rc = 3;
            goto done;
        }
    }
done:
    json_decref(status);
    json_decref(rr);
    plan_free(p);
    api_restore_free(spec);
    kube_client_free(kc);
    kube_config_free(cfg);
    return rc;
}
