/* kube_client - drives pkg/kube against a live API server (kubesim) for the
 * e2e suite e2e/kubeclient/tests.
 *
 *   kube_client [--kubeconfig P] [--context C] COMMAND ARGS...
 *     get     GV/RES NS NAME                      print the object (JSON)
 *     list    GV/RES NS [--limit N] [--selector L] [--field F] [--keep P,P...]
 *                                                 one JSON line per page, then a summary;
 *                                                 with --keep (kube/keep.h paths) each page
 *                                                 line also holds its decoded "items"
 *     create  GV/RES NS FILE                      POST the JSON in FILE ("-": stdin)
 *     replace GV/RES NS NAME FILE                 PUT
 *     patch   GV/RES NS NAME merge|json|strategic|apply BODY [--field-manager M] [--force]
 *     delete  GV/RES NS NAME [--propagation P]
 *     watch   GV/RES NS [--rv RV] [--timeout S] [--max-events N] [--field F] [--selector L]
 *             [--keep P,P...]                     "TYPE NAME RV" per event (with --keep,
 *                                                 then the decoded object's JSON)
 *     logs    NS POD                              print the pod's log
 *     informer GV/RES NS --seconds S [--timeout W] [--field F] [--selector L]
 *                                                 runs an informer for S seconds: "SYNCED n",
 *                                                 "ADD|UPDATE|DELETE NAME RV" lines, then
 *                                                 "CACHE {json}" with keys, rvs and counters
 *     leader  NS LEASE IDENTITY [--lease L]      leader election until SIGTERM: prints
 *                                                 "LEADER" / "STOPPED"; releases on SIGTERM
 *     parallel-get GV/RES NS NAME THREADS COUNT   THREADS threads share one client, each
 *                                                 GETs COUNT times; prints a JSON summary
 *
 * GV/RES is "v1/configmaps" or "apps/v1/deployments"; NS "-" means none.
 * On failure: "error: LB_NAME: message" on stderr and exit status 10 - code
 * (LB_ERROR 11, LB_ENOTFOUND 12, LB_ECONFLICT 13, LB_EGONE 14, ...).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "kube/client.h"
#include "kube/config.h"
#include "kube/informer.h"
#include "kube/leader.h"
#include "kube/watch.h"
#include "util/alloc.h"
#include "util/error.h"

#define MAX_INPUT_BYTES (4u << 20)

typedef struct args {
    const char *kubeconfig, *context;
    const char *selector, *field, *rv, *field_manager, *propagation;
    const char *keep[16]; /* --keep P,P...: NULL-terminated; keep[0] NULL: none */
    char *keep_text;
    long limit;
    int timeout, max_events, force, seconds;
    const char *pos[8];
    int n_pos;
} args;

static int fail(int code)
{
    fprintf(stderr, "error: %s: %s\n", lb_error_name(code), lb_error_last());
    return 10 - code;
}

/* "apps/v1/deployments" -> group apps, version v1, resource deployments. */
static int parse_gvr(kube_ref *ref, char *spec, const char *ns, const char *name)
{
    char *a = strtok(spec, "/"), *b = strtok(NULL, "/"), *c = strtok(NULL, "/");
    memset(ref, 0, sizeof(*ref));
    if (a == NULL || b == NULL)
        return lb_error_setc(LB_EINVALID, "GV/RES: expected v1/RES or GROUP/VERSION/RES");
    if (c == NULL) {
        ref->group = "";
        ref->version = a;
        ref->resource = b;
    } else {
        ref->group = a;
        ref->version = b;
        ref->resource = c;
    }
    ref->namespace = (ns == NULL || strcmp(ns, "-") == 0) ? NULL : ns;
    ref->name = name;
    return 0;
}

static int read_input(json_t **out, const char *path)
{
    json_error_t jerr;
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    char *buf;
    size_t n;
    if (f == NULL)
        return lb_error_set("%s: cannot open", path);
    buf = lb_malloc(MAX_INPUT_BYTES + 1);
    n = fread(buf, 1, MAX_INPUT_BYTES + 1, f);
    if (f != stdin)
        fclose(f);
    if (n > MAX_INPUT_BYTES) {
        free(buf);
        return lb_error_setc(LB_ETOOBIG, "%s: larger than %u bytes", path, MAX_INPUT_BYTES);
    }
    *out = json_loadb(buf, n, 0, &jerr);
    free(buf);
    if (*out == NULL)
        return lb_error_setc(LB_EINVALID, "%s: line %d: %s", path, jerr.line, jerr.text);
    return 0;
}

static void print_json(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    printf("%s\n", s ? s : "null");
    free(s);
}

static int cmd_list(kube_client *c, const kube_ref *ref, const args *a)
{
    kube_list_options lo = {a->selector, a->field, a->limit,
                            NULL,        NULL,     a->keep[0] != NULL ? a->keep : NULL};
    char *cont = NULL;
    json_t *all = json_array();
    int pages = 0, result = 0;
    const char *rv = "";
    json_t *last = NULL;

    do {
        json_t *page = NULL, *names = json_array(), *item;
        const char *next;
        size_t i;
        lo.continue_token = cont;
        result = kube_list(&page, c, ref, &lo);
        if (result != 0) {
            json_decref(names);
            break;
        }
        pages++;
        json_array_foreach(json_object_get(page, "items"), i, item)
        {
            json_t *nm = json_object_get(json_object_get(item, "metadata"), "name");
            json_array_append(names, nm);
            json_array_append(all, nm);
        }
        next = json_string_value(json_object_get(json_object_get(page, "metadata"), "continue"));
        free(cont);
        cont = (next != NULL && next[0] != '\0') ? lb_strdup(next) : NULL;
        {
            json_t *line = json_pack("{s:i, s:o, s:b}", "page", pages, "names", names, "continue",
                                     cont != NULL);
            if (a->keep[0] != NULL)
                json_object_set(line, "items", json_object_get(page, "items"));
            print_json(line);
            json_decref(line);
        }
        json_decref(last);
        last = page;
    } while (cont != NULL && pages < 10000);
    if (result == 0) {
        json_t *sum;
        rv = json_string_value(
            json_object_get(json_object_get(last, "metadata"), "resourceVersion"));
        sum = json_pack("{s:i, s:O, s:s}", "pages", pages, "names", all, "resourceVersion",
                        rv ? rv : "");
        print_json(sum);
        json_decref(sum);
    }
    json_decref(last);
    json_decref(all);
    free(cont);
    return result;
}

typedef struct watch_state {
    int seen, max, print_object;
} watch_state;

static int on_event(const char *type, json_t *obj, void *payload)
{
    watch_state *ws = payload;
    json_t *md = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(md, "name"));
    const char *rv = json_string_value(json_object_get(md, "resourceVersion"));
    printf("%s %s %s", type, name ? name : "-", rv ? rv : "-");
    if (ws->print_object) {
        char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
        printf(" %s", text ? text : "null");
        free(text);
    }
    printf("\n");
    fflush(stdout);
    ws->seen++;
    return (ws->max > 0 && ws->seen >= ws->max) ? 1 : 0;
}

static int cmd_watch(kube_client *c, const kube_ref *ref, const args *a)
{
    kube_watch_options wo = {a->rv,      a->selector, a->field,
                             a->timeout, 0,           a->keep[0] != NULL ? a->keep : NULL};
    watch_state ws = {0, a->max_events, a->keep[0] != NULL};
    kube_watch *w = NULL;
    int result = kube_watch_new(&w, c, ref, &wo);
    if (result != 0)
        return result;
    printf("WATCHING\n");
    fflush(stdout);
    result = kube_watch_run(w, on_event, &ws);
    if (result == 1)
        result = 0; /* stopped after max events */
    printf("END %s\n", kube_watch_resource_version(w));
    kube_watch_free(w);
    return result;
}

typedef struct par {
    kube_client *c;
    const kube_ref *ref;
    int count;
    atomic_int ok;
    atomic_int failed;
} par;

static void *par_worker(void *arg)
{
    par *p = arg;
    for (int i = 0; i < p->count; i++) {
        json_t *obj = NULL;
        if (kube_get(&obj, p->c, p->ref) == 0 && json_is_object(obj))
            atomic_fetch_add(&p->ok, 1);
        else
            atomic_fetch_add(&p->failed, 1);
        json_decref(obj);
    }
    return NULL;
}

static int cmd_parallel_get(kube_client *c, const kube_ref *ref, int threads, int count)
{
    pthread_t th[64];
    par p = {c, ref, count, 0, 0};
    kube_client_stats st;
    json_t *sum;
    if (threads < 1 || threads > 64 || count < 1)
        return lb_error_setc(LB_EINVALID, "parallel-get: THREADS 1..64, COUNT >= 1");
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, par_worker, &p);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    kube_client_stats_get(&st, c);
    sum = json_pack("{s:i, s:i, s:I, s:I}", "ok", atomic_load(&p.ok), "failed",
                    atomic_load(&p.failed), "requests", (json_int_t)st.requests, "connections",
                    (json_int_t)st.connections);
    print_json(sum);
    json_decref(sum);
    return atomic_load(&p.failed) == 0 ? 0 : lb_error_set("parallel-get: some GETs failed");
}

static void inf_line(const char *what, json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(md, "name"));
    const char *rv = json_string_value(json_object_get(md, "resourceVersion"));
    printf("%s %s %s\n", what, name ? name : "-", rv ? rv : "-");
    fflush(stdout);
}

static void inf_add(json_t *obj, void *payload)
{
    (void)payload;
    inf_line("ADD", obj);
}

static void inf_update(json_t *old_obj, json_t *new_obj, void *payload)
{
    (void)old_obj;
    (void)payload;
    inf_line("UPDATE", new_obj);
}

static void inf_delete(json_t *obj, void *payload)
{
    (void)payload;
    inf_line("DELETE", obj);
}

static int cmd_informer(kube_client *c, const kube_ref *ref, const args *a)
{
    kube_informer_options io = {.label_selector = a->selector,
                                .field_selector = a->field,
                                .watch_timeout_seconds = a->timeout,
                                .page_size = a->limit};
    kube_informer_handlers h = {
        .on_add = inf_add, .on_update = inf_update, .on_delete = inf_delete};
    kube_informer *inf = NULL;
    unsigned long lists, watches;
    json_t *keys, *rvs, *key, *sum;
    size_t i;
    int result = kube_informer_new(&inf, c, ref, &io, &h);
    if (result != 0)
        return result;
    result = kube_informer_start(inf);
    if (result == 0)
        result = kube_informer_wait_synced(inf, 30000);
    if (result != 0) {
        kube_informer_free(inf);
        return result;
    }
    printf("SYNCED %zu\n", kube_informer_len(inf));
    fflush(stdout);
    for (int t = 0; t < a->seconds * 10; t++) {
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
    }
    kube_informer_stop(inf);
    keys = kube_informer_keys(inf);
    rvs = json_object();
    json_array_foreach(keys, i, key)
    {
        const char *k = json_string_value(key);
        const char *slash = strchr(k, '/');
        char *ns = slash ? lb_strndup(k, (size_t)(slash - k)) : NULL;
        json_t *obj = kube_informer_get(inf, ns, slash ? slash + 1 : k);
        json_object_set(rvs, k,
                        json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
        json_decref(obj);
        free(ns);
    }
    kube_informer_counts(inf, &lists, &watches);
    sum = json_pack("{s:o, s:o, s:I, s:I}", "keys", keys, "resourceVersions", rvs, "lists",
                    (json_int_t)lists, "watches", (json_int_t)watches);
    printf("CACHE ");
    print_json(sum);
    json_decref(sum);
    kube_informer_free(inf);
    return 0;
}

static atomic_int leader_stop;

static void on_sigterm(int sig)
{
    (void)sig;
    atomic_store(&leader_stop, 1); /* a signal handler only sets a flag */
}

static void say(void *payload)
{
    printf("%s\n", (const char *)payload);
    fflush(stdout);
}

static void say_leader(void *payload)
{
    (void)payload;
    say("LEADER");
}

static void say_stopped(void *payload)
{
    (void)payload;
    say("STOPPED");
}

/* lease L s, renew deadline 2L/3, retry L/3 (at least 1 s each). */
static int cmd_leader(kube_client *c, const args *a)
{
    int lease = a->timeout > 0 ? a->timeout : 15;
    kube_leader_options o = {a->pos[1], a->pos[2], a->pos[3], lease, 0, 0, NULL, NULL};
    kube_leader *l = NULL;
    struct sigaction sa;
    int result;
    o.retry_period_s = lease / 3 > 0 ? lease / 3 : 1;
    o.renew_deadline_s = 2 * lease / 3 > o.retry_period_s ? 2 * lease / 3 : o.retry_period_s + 1;
    result = kube_leader_new(&l, c, &o);
    if (result != 0)
        return result;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigterm;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    say("CANDIDATE");
    result = kube_leader_run(l, &leader_stop, say_leader, say_stopped, NULL);
    kube_leader_free(l);
    return result;
}

static int run(const args *a)
{
    kube_config *cfg = NULL;
    kube_client *c = NULL;
    kube_ref ref;
    json_t *out = NULL, *body = NULL;
    char *gvr = NULL;
    const char *cmd = a->pos[0];
    int result;

    if (a->kubeconfig != NULL)
        result = kube_config_load_path_list(&cfg, a->kubeconfig, a->context);
    else
        result = kube_config_load_default(&cfg, a->context);
    if (result != 0)
        goto done;
    result = kube_client_new(&c, cfg, NULL);
    if (result != 0)
        goto done;

    if (strcmp(cmd, "logs") == 0 && a->n_pos == 3) {
        kube_ref pod = {"", "v1", "pods", a->pos[1], a->pos[2], "log"};
        char *text = NULL;
        size_t len = 0;
        result = kube_get_text(&text, &len, c, &pod, NULL);
        if (result == 0)
            fwrite(text, 1, len, stdout);
        free(text);
        goto done;
    }
    if (strcmp(cmd, "leader") == 0 && a->n_pos == 4) {
        result = cmd_leader(c, a);
        goto done;
    }
    if (a->n_pos < 3) {
        result = lb_error_setc(LB_EINVALID, "usage: see the comment at the top of kube_client.c");
        goto done;
    }
    gvr = lb_strdup(a->pos[1]);
    result = parse_gvr(&ref, gvr, a->pos[2], a->n_pos > 3 ? a->pos[3] : NULL);
    if (result != 0)
        goto done;

    if (strcmp(cmd, "get") == 0 && a->n_pos == 4) {
        result = kube_get(&out, c, &ref);
    } else if (strcmp(cmd, "list") == 0 && a->n_pos == 3) {
        result = cmd_list(c, &ref, a);
    } else if (strcmp(cmd, "create") == 0 && a->n_pos == 4) {
        ref.name = NULL;
        result = read_input(&body, a->pos[3]);
        if (result == 0)
            result = kube_create(&out, c, &ref, body);
    } else if (strcmp(cmd, "replace") == 0 && a->n_pos == 5) {
        result = read_input(&body, a->pos[4]);
        if (result == 0)
            result = kube_replace(&out, c, &ref, body);
    } else if (strcmp(cmd, "patch") == 0 && a->n_pos == 6) {
        kube_patch_options po = {a->field_manager, a->force};
        kube_patch_type t;
        if (strcmp(a->pos[4], "merge") == 0)
            t = KUBE_PATCH_MERGE;
        else if (strcmp(a->pos[4], "json") == 0)
            t = KUBE_PATCH_JSON;
        else if (strcmp(a->pos[4], "strategic") == 0)
            t = KUBE_PATCH_STRATEGIC;
        else if (strcmp(a->pos[4], "apply") == 0)
            t = KUBE_PATCH_APPLY;
        else {
            result = lb_error_setc(LB_EINVALID, "patch type: merge, json, strategic or apply");
            goto done;
        }
        result = kube_patch(&out, c, &ref, t, a->pos[5], strlen(a->pos[5]), &po);
    } else if (strcmp(cmd, "delete") == 0 && a->n_pos == 4) {
        result = kube_delete(&out, c, &ref, a->propagation);
    } else if (strcmp(cmd, "informer") == 0 && a->n_pos == 3) {
        result = cmd_informer(c, &ref, a);
    } else if (strcmp(cmd, "parallel-get") == 0 && a->n_pos == 6) {
        result = cmd_parallel_get(c, &ref, atoi(a->pos[4]), atoi(a->pos[5]));
    } else if (strcmp(cmd, "watch") == 0 && a->n_pos == 3) {
        result = cmd_watch(c, &ref, a);
    } else {
        result = lb_error_setc(LB_EINVALID, "unknown command or wrong arguments: %s", cmd);
    }
    if (result == 0 && out != NULL)
        print_json(out);
done:
    json_decref(out);
    json_decref(body);
    free(gvr);
    kube_client_free(c);
    kube_config_free(cfg);
    return result;
}

int main(int argc, char **argv)
{
    args a = {0};
    int result;

    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(s, "--force") == 0) {
            a.force = 1;
        } else if (strncmp(s, "--", 2) == 0 && v == NULL) {
            fprintf(stderr, "error: %s needs a value\n", s);
            return 2;
        } else if (strcmp(s, "--kubeconfig") == 0) {
            a.kubeconfig = argv[++i];
        } else if (strcmp(s, "--context") == 0) {
            a.context = argv[++i];
        } else if (strcmp(s, "--selector") == 0) {
            a.selector = argv[++i];
        } else if (strcmp(s, "--field") == 0) {
            a.field = argv[++i];
        } else if (strcmp(s, "--keep") == 0) {
            int n = 0;
            free(a.keep_text);
            a.keep_text = lb_strdup(argv[++i]);
            for (char *p = strtok(a.keep_text, ","); p != NULL && n < 15; p = strtok(NULL, ","))
                a.keep[n++] = p;
            a.keep[n] = NULL;
        } else if (strcmp(s, "--rv") == 0) {
            a.rv = argv[++i];
        } else if (strcmp(s, "--field-manager") == 0) {
            a.field_manager = argv[++i];
        } else if (strcmp(s, "--propagation") == 0) {
            a.propagation = argv[++i];
        } else if (strcmp(s, "--limit") == 0) {
            a.limit = strtol(argv[++i], NULL, 10);
        } else if (strcmp(s, "--lease") == 0) {
            a.timeout = (int)strtol(argv[++i], NULL, 10);
        } else if (strcmp(s, "--timeout") == 0) {
            a.timeout = (int)strtol(argv[++i], NULL, 10);
        } else if (strcmp(s, "--seconds") == 0) {
            a.seconds = (int)strtol(argv[++i], NULL, 10);
        } else if (strcmp(s, "--max-events") == 0) {
            a.max_events = (int)strtol(argv[++i], NULL, 10);
        } else if (strncmp(s, "--", 2) == 0) {
            fprintf(stderr, "error: unknown flag %s\n", s);
            return 2;
        } else if (a.n_pos < 8) {
            a.pos[a.n_pos++] = s;
        }
    }
    if (a.n_pos == 0) {
        fprintf(stderr, "usage: kube_client [--kubeconfig P] COMMAND ... (see the source)\n");
        return 2;
    }
    result = run(&a);
    free(a.keep_text);
    if (result != 0)
        return fail(result);
    return 0;
}
