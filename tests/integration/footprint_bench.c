/* footprint_bench - the operator's in-process CPU figures for `make bench`
 * (issue 17), without a server: what a no-op watch event costs (decode the
 * event line with jansson, cut it to the RestoreRequest's kept view, decide it
 * is settled) and what planning a 10-item dry run costs (restore_desired_status
 * on the object read fresh, then the status body serialized as the write
 * sends it), and the heap a cached kept view takes as a tree and as the text
 * the informer stores. CPU is this process's (CLOCK_PROCESS_CPUTIME_ID); prints a
 * Markdown table. Usage: footprint_bench [iterations] (default 20000).
 * Figures only: nothing passes or fails on them. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "api/common.h"
#include "controller/controller.h"
#include "controller/restore/engine.h"
#include "controller/restore/reconcile.h"
#include "kube/keep.h"
#include "kube/watch.h"

#define ITEMS 10

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A 10-item dry-run RestoreRequest as e2e/operator/bench.py creates them (one
 * RDS point-in-time item each), with the bookkeeping kubectl adds. */
static json_t *request(void)
{
    json_t *items = json_array();
    for (int i = 0; i < ITEMS; i++) {
        char name[32], src[48], secret[32];
        snprintf(name, sizeof(name), "db-%d", i);
        snprintf(src, sizeof(src), "shop-db-%d-prod", i);
        snprintf(secret, sizeof(secret), "db-%d-secrets", i);
        json_array_append_new(
            items,
            json_pack("{s:s, s:{s:s, s:b}, s:{s:s}, s:s, s:s, s:[{s:s, s:s, s:b}]}", "name", name,
                      "rdsPointInTime", "sourceDBInstanceIdentifier", src,
                      "useLatestRestorableTime", 1, "credentialsSecretRef", "name",
                      "orders-db-admin", "database", "shop", "promote", "rename", "secretPatches",
                      "secretName", secret, "key", "DATABASE_URL", "replaceHost", 1));
    }
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:i, s:s, s:[{s:s, s:s}], s:{s:s}},"
                     " s:{s:b, s:o, s:[{s:s, s:s}]}}",
                     "apiVersion", "lifeboat.dev/v1alpha1", "kind", "RestoreRequest", "metadata",
                     "name", "rr-00001", "namespace", "bench", "uid",
                     "0b6f7c1e-8f55-4d0e-9d55-2d1f3c1a0001", "resourceVersion", "123456",
                     "generation", 1, "creationTimestamp", "2026-03-01T00:00:00Z", "managedFields",
                     "manager", "kubectl", "operation", "Update", "annotations", "bench/touch", "1",
                     "spec", "dryRun", 1, "items", items, "rollout", "kind", "Deployment", "name",
                     "order-service");
}

/* Heap bytes in use (glibc's mallinfo2). */
static size_t heap_in_use(void)
{
    return mallinfo2().uordblks;
}

/* Heap bytes per cached object for N kept views held as jansson trees and as
 * the compact text the informer stores (kube/informer.h). */
static void cache_cost(const json_t *obj, size_t *tree, size_t *text)
{
    enum { N = 10000 };
    json_t **held = calloc(N, sizeof(*held));
    size_t before = heap_in_use();
    for (int i = 0; i < N; i++)
        held[i] = kube_keep_view(obj, ctrl_kind_restore.keep);
    *tree = (heap_in_use() - before) / N;
    for (int i = 0; i < N; i++) {
        char *t = json_dumps(held[i], JSON_COMPACT);
        json_decref(held[i]);
        held[i] = json_stringn_nocheck(t, strlen(t));
        free(t);
    }
    *text = (heap_in_use() - before) / N;
    for (int i = 0; i < N; i++)
        json_decref(held[i]);
    free(held);
}

/* What a no-op event costs after its decode (ev stolen): the kept view, stored
 * as the informer stores it, the previous entry read back (on_update's old)
 * and the cache read; 1 when the request is settled. */
static int after_decode(json_t *ev)
{
    json_error_t err;
    json_t *v = kube_keep_view(json_object_get(ev, "object"), ctrl_kind_restore.keep);
    char *stored = json_dumps(v, JSON_COMPACT); /* what the informer stores */
    json_t *old = json_loads(stored, 0, &err);  /* the previous entry, for on_update */
    json_t *got = json_loads(stored, 0, &err);  /* the cache read */
    int settled = engine_settled(got);
    json_decref(ev);
    json_decref(v);
    json_decref(old);
    json_decref(got);
    free(stored);
    return settled;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
    json_t *obj = request(), *status = json_object(), *view;
    char *line;
    size_t line_len, kept_bytes, tree_bytes, text_bytes;
    double t0, plan_cpu, noop_cpu, whole_cpu;
    kube_keep_spec *spec;
    long settled = 0;

    if (n <= 0) {
        fprintf(stderr, "footprint_bench: iterations must be a positive number\n");
        return 2;
    }
    /* the Planned object, as the watch event after our status write carries it */
    if (restore_desired_status(status, obj, lb_time_now()) != 0 ||
        strcmp(api_get_str(status, "phase") ? api_get_str(status, "phase") : "", "Planned") != 0) {
        fprintf(stderr, "footprint_bench: the request did not plan: %s\n",
                json_dumps(status, JSON_COMPACT));
        return 1;
    }
    json_object_set_new(obj, "status", status);
    line = json_dumps(json_pack("{s:s, s:O}", "type", "MODIFIED", "object", obj), JSON_COMPACT);
    line_len = strlen(line);
    view = kube_keep_view(obj, ctrl_kind_restore.keep);
    {
        char *v = json_dumps(view, JSON_COMPACT);
        kept_bytes = strlen(v);
        free(v);
    }
    json_decref(view);
    {
        json_error_t err;
        json_t *decoded = json_loadb(line, line_len, 0, &err);
        cache_cost(json_object_get(decoded, "object"), &tree_bytes, &text_bytes);
        json_decref(decoded);
    }

    /* the watch's decode: only what the kept view reads (kube/keep.h) */
    if (kube_keep_compile(&spec, "/object", ctrl_kind_restore.keep, kube_watch_event_fields) != 0)
        return 1;
    t0 = cpu_seconds();
    for (long i = 0; i < n; i++) {
        json_t *ev = NULL;
        kube_keep_decode(&ev, spec, line, line_len);
        settled += after_decode(ev);
    }
    noop_cpu = (cpu_seconds() - t0) / (double)n;
    kube_keep_spec_free(spec);

    /* the same with the whole event decoded by jansson first (before kube_keep_decode) */
    t0 = cpu_seconds();
    for (long i = 0; i < n; i++) {
        json_error_t err;
        settled += after_decode(json_loadb(line, line_len, 0, &err));
    }
    whole_cpu = (cpu_seconds() - t0) / (double)n;

    json_object_del(obj, "status");
    t0 = cpu_seconds();
    for (long i = 0; i < n / 10; i++) {
        json_t *st = json_object();
        char *body;
        restore_desired_status(st, obj, lb_time_now());
        body = json_dumps(st, JSON_COMPACT);
        free(body);
        json_decref(st);
    }
    plan_cpu = (cpu_seconds() - t0) / (double)(n / 10 > 0 ? n / 10 : 1);

    printf("| in-process figure (tests/integration/footprint_bench) | measured |\n");
    printf("|---|---|\n");
    printf("| watch event of a Planned %d-item request | %zu bytes, kept view %zu bytes |\n", ITEMS,
           line_len, kept_bytes);
    printf("| heap per cached object (10,000 held): kept view as a jansson tree / as the "
           "compact text the informer stores | %zu / %zu bytes |\n",
           tree_bytes, text_bytes);
    printf("| CPU per no-op event: decode of what the kept view reads + kept view + store as "
           "text + 2 reads + settled check (%ld/%ld settled) | %.1f us |\n",
           settled, 2 * n, noop_cpu * 1e6);
    printf("| the same with the whole event decoded by jansson first | %.1f us (%.1fx) |\n",
           whole_cpu * 1e6, whole_cpu / noop_cpu);
    printf("| CPU per %d-item dry-run plan: validate + plan + status body | %.1f us |\n", ITEMS,
           plan_cpu * 1e6);
    free(line);
    json_decref(obj);
    return settled == 2 * n ? 0 : 1;
}
