/* kubectl-lifeboat - `kubectl lifeboat ...`: see what a restore does and act on it
 * without jsonpath at 3 a.m. kubectl finds this program on the PATH by its name.
 *
 *   plan RR                 the plan as a table, and what approval releases
 *   approve RR [--yes]      approve as the current user, naming status.planHash
 *   timeline RR [--watch]   the steps; --watch redraws on every change (a watch)
 *   status [-A]             every RestoreRequest, VerificationRun, BackupPolicy
 *   abort RR [--reason R]   stop a run (rolls back a cutover)
 *   backup-now BP [--token T]   one backup now
 *   drill BP                a VerificationRun from the policy's template
 *   completion bash         a bash completion script
 *
 * Flags: --kubeconfig, --context, -n/--namespace, -A/--all-namespaces,
 * -o/--output json|yaml, -y/--yes, -w/--watch. Exit codes: 0 done; 1 an API or
 * I/O error; 2 bad usage; 3 refused (not approved: answered no, the plan changed,
 * the request is not waiting); 4 `timeline --watch` saw the request end Failed or
 * RolledBack. main() only parses and dispatches; the tables are pkg/cli. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli/output.h"
#include "cli/render.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/watch.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/timeutil.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define EXIT_REFUSED 3
#define EXIT_RUN_FAILED 4
#define OUTPUT_CAP (16u << 20)

#define APPROVE_ANNOTATION "lifeboat.dev/approve"
#define APPROVE_PLAN_ANNOTATION "lifeboat.dev/approve-plan"
#define ABORT_ANNOTATION "lifeboat.dev/abort"
#define BACKUP_NOW_ANNOTATION "lifeboat.dev/backup-now"

typedef struct opts {
    const char *kubeconfig, *context, *namespace, *output, *token, *reason;
    int all_namespaces, yes, watch;
    const char *cmd, *name;
} opts;

typedef struct cli {
    opts o;
    kube_config *cfg;
    kube_client *c;
    const char *ns;
    cli_style style;
} cli;

static const char *const USAGE =
    "usage: kubectl lifeboat COMMAND [NAME] [flags]\n"
    "  plan RR                  the restore plan, and what approval releases\n"
    "  approve RR [--yes]       approve as you, for the plan shown (status.planHash)\n"
    "  timeline RR [--watch]    the steps with start, duration and message\n"
    "  status [-A]              RestoreRequests, VerificationRuns, BackupPolicies\n"
    "  abort RR [--reason R]    stop a run; a cutover is rolled back\n"
    "  backup-now BP [--token T]  one backup of every target of the policy\n"
    "  drill BP                 a VerificationRun from the policy's template\n"
    "  completion bash          a completion script for bash\n"
    "flags: --kubeconfig PATH, --context NAME, -n NS, -A, -o json|yaml, -y, -w\n";

/* Prints "kubectl-lifeboat: <what><arg><rest>" and the usage; returns EXIT_USAGE. */
static int usage_error(const char *what, const char *arg, const char *rest)
{
    fprintf(stderr, "kubectl-lifeboat: %s%s%s\n%s", what, arg, rest, USAGE);
    return EXIT_USAGE;
}

/* --flag VALUE, --flag=VALUE, -f VALUE. Returns 1 when argv[*i] was `flag` (and
 * *out is set, *i advanced), 0 when not, -1 when its value is missing. */
static int flag_value(const char **out, int argc, char **argv, int *i, const char *lng,
                      const char *shrt)
{
    const char *a = argv[*i];
    size_t n = strlen(lng);
    if (strncmp(a, lng, n) == 0 && a[n] == '=') {
        *out = a + n + 1;
        return 1;
    }
    if (strcmp(a, lng) == 0 || (shrt != NULL && strcmp(a, shrt) == 0)) {
        if (*i + 1 >= argc)
            return -1;
        *out = argv[++*i];
        return 1;
    }
    return 0;
}

static int parse(opts *o, int argc, char **argv)
{
    static const struct {
        const char *lng, *shrt;
        size_t off;
    } valued[] = {
        {"--kubeconfig", NULL, offsetof(opts, kubeconfig)},
        {"--context", NULL, offsetof(opts, context)},
        {"--namespace", "-n", offsetof(opts, namespace)},
        {"--output", "-o", offsetof(opts, output)},
        {"--token", NULL, offsetof(opts, token)},
        {"--reason", NULL, offsetof(opts, reason)},
    };
    memset(o, 0, sizeof(*o));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int matched = 0;
        for (size_t k = 0; k < sizeof(valued) / sizeof(valued[0]) && !matched; k++) {
            const char **dst = (const char **)((char *)o + valued[k].off);
            int r = flag_value(dst, argc, argv, &i, valued[k].lng, valued[k].shrt);
            if (r < 0)
                return usage_error("", a, ": needs a value");
            matched = r;
        }
        if (matched)
            continue;
        if (strcmp(a, "-A") == 0 || strcmp(a, "--all-namespaces") == 0)
            o->all_namespaces = 1;
        else if (strcmp(a, "-y") == 0 || strcmp(a, "--yes") == 0)
            o->yes = 1;
        else if (strcmp(a, "-w") == 0 || strcmp(a, "--watch") == 0)
            o->watch = 1;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(USAGE, stdout);
            exit(0);
        } else if (a[0] == '-')
            return usage_error("unknown flag ", a, "");
        else if (o->cmd == NULL)
            o->cmd = a;
        else if (o->name == NULL)
            o->name = a;
        else
            return usage_error("unexpected argument ", a, "");
    }
    if (o->cmd == NULL)
        return usage_error("", "a command is required", "");
    if (o->output != NULL && strcmp(o->output, "json") != 0 && strcmp(o->output, "yaml") != 0)
        return usage_error("-o ", o->output, ": must be json or yaml");
    return 0;
}

static kube_ref rr_ref(const cli *x, const char *resource, const char *name)
{
    kube_ref r = {.group = "lifeboat.dev",
                  .version = "v1alpha1",
                  .resource = resource,
                  .namespace = x->ns,
                  .name = name};
    return r;
}

static int print_obj(const cli *x, const json_t *v)
{
    return strcmp(x->o.output, "yaml") == 0 ? cli_write_yaml(stdout, v) : cli_write_json(stdout, v);
}

static int print_buf(lb_buf *b, int rc)
{
    if (rc == 0)
        fputs(buf_cstr(b), stdout);
    buf_dispose(b);
    fflush(stdout);
    return rc;
}

static int api_failed(const char *what)
{
    fprintf(stderr, "kubectl-lifeboat: %s: %s\n", what, lb_error_last());
    return EXIT_FAILED;
}

static int get_rr(json_t **out, const cli *x, const char *name)
{
    kube_ref r = rr_ref(x, "restorerequests", name);
    if (kube_get(out, x->c, &r) != 0) {
        char what[320];
        snprintf(what, sizeof(what), "restorerequest %s/%s", x->ns, name);
        return api_failed(what);
    }
    return 0;
}

/* The API server's name for the current user (SelfSubjectReview, GA in 1.28). */
static int whoami(char *out, size_t size, const cli *x)
{
    kube_ref r = {.group = "authentication.k8s.io", .version = "v1",
                  .resource = "selfsubjectreviews"};
    json_t *body = json_pack("{s:s, s:s}", "apiVersion", "authentication.k8s.io/v1", "kind",
                             "SelfSubjectReview");
    json_t *ans = NULL;
    const char *user;
    int rc = kube_create(&ans, x->c, &r, body);
    json_decref(body);
    if (rc != 0)
        return api_failed("who am I (SelfSubjectReview)");
    user = json_string_value(
        json_object_get(json_object_get(json_object_get(ans, "status"), "userInfo"), "username"));
    if (user == NULL || user[0] == '\0') {
        json_decref(ans);
        fprintf(stderr, "kubectl-lifeboat: the API server did not name the current user\n");
        return EXIT_FAILED;
    }
    snprintf(out, size, "%s", user);
    json_decref(ans);
    return 0;
}

/* Merge-patches metadata.annotations, conditioned on `rv` when not NULL (the
 * server answers 409 if the object changed since it was read). */
static int annotate(json_t **out, const cli *x, const char *resource, const char *name,
                    json_t *annotations, const char *rv)
{
    kube_ref r = rr_ref(x, resource, name);
    json_t *patch = json_pack("{s:{s:o}}", "metadata", "annotations", annotations);
    char *body;
    int rc;
    if (rv != NULL)
        json_object_set_new(json_object_get(patch, "metadata"), "resourceVersion",
                            json_string(rv));
    body = json_dumps(patch, JSON_COMPACT);
    json_decref(patch);
    rc = kube_patch(out, x->c, &r, KUBE_PATCH_MERGE, body, strlen(body), NULL);
    free(body);
    return rc;
}

static int cmd_plan(cli *x)
{
    json_t *rr = NULL;
    lb_buf b;
    int rc = get_rr(&rr, x, x->o.name);
    if (rc != 0)
        return rc;
    if (x->o.output != NULL)
        rc = print_obj(x, json_object_get(json_object_get(rr, "status"), "plan"));
    else {
        buf_init(&b, OUTPUT_CAP);
        rc = print_buf(&b, cli_render_plan(&b, rr, x->style));
    }
    json_decref(rr);
    return rc == 0 ? 0 : EXIT_FAILED;
}

/* Reads one answer line from stdin: yes only for "y" or "yes". */
static int confirmed(void)
{
    char line[64];
    if (fgets(line, sizeof(line), stdin) == NULL)
        return 0;
    line[strcspn(line, "\r\n")] = '\0';
    return strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0;
}

static int cmd_approve(cli *x)
{
    json_t *rr = NULL, *ann, *after = NULL;
    const json_t *st;
    const char *hash, *rv;
    char user[256];
    lb_buf b;
    int rc = get_rr(&rr, x, x->o.name);
    if (rc != 0)
        return rc;
    st = json_object_get(rr, "status");
    if (strcmp(json_string_value(json_object_get(st, "phase")) ?: "", "AwaitingApproval") != 0) {
        fprintf(stderr, "kubectl-lifeboat: %s/%s is %s, not waiting for approval; nothing done\n",
                x->ns, x->o.name, json_string_value(json_object_get(st, "phase")) ?: "(no phase)");
        json_decref(rr);
        return EXIT_REFUSED;
    }
    buf_init(&b, OUTPUT_CAP);
    rc = print_buf(&b, cli_render_plan(&b, rr, x->style));
    if (rc == 0)
        rc = whoami(user, sizeof(user), x);
    if (rc != 0) {
        json_decref(rr);
        return rc == EXIT_FAILED ? rc : EXIT_FAILED;
    }
    if (!x->o.yes) {
        printf("Approve these steps as %s? [y/N] ", user);
        fflush(stdout);
        if (!confirmed()) {
            printf("not approved\n");
            json_decref(rr);
            return EXIT_REFUSED;
        }
    }
    hash = json_string_value(json_object_get(st, "planHash"));
    rv = json_string_value(json_object_get(json_object_get(rr, "metadata"), "resourceVersion"));
    ann = json_pack("{s:s}", APPROVE_ANNOTATION, user);
    if (hash != NULL)
        json_object_set_new(ann, APPROVE_PLAN_ANNOTATION, json_string(hash));
    /* conditioned on the version shown: a plan changed in between is not approved */
    rc = annotate(&after, x, "restorerequests", x->o.name, ann, rv);
    json_decref(rr);
    json_decref(after);
    if (rc == LB_ECONFLICT) {
        fprintf(stderr, "kubectl-lifeboat: %s/%s changed since its plan was shown; nothing "
                        "approved: run approve again\n", x->ns, x->o.name);
        return EXIT_REFUSED;
    }
    if (rc != 0)
        return api_failed("approve");
    printf("restorerequest %s/%s approved by %s\n", x->ns, x->o.name, user);
    return 0;
}

typedef struct watch_state {
    cli *x;
    const char *phase_at_end;
    char rv[64];
} watch_state;

static int draw_timeline(cli *x, const json_t *rr)
{
    lb_buf b;
    buf_init(&b, OUTPUT_CAP);
    if (x->style == CLI_COLOR && x->o.watch)
        buf_append_str(&b, "\033[H\033[2J"); /* redraw in place on a terminal */
    else if (x->o.watch)
        buf_append_str(&b, "---\n");
    return print_buf(&b, cli_render_timeline(&b, rr, lb_time_now(), x->style));
}

static int on_watch_event(const char *type, json_t *obj, void *payload)
{
    watch_state *w = payload;
    const char *phase;
    if (strcmp(type, "DELETED") == 0) {
        printf("%s/%s was deleted\n", w->x->ns, w->x->o.name);
        w->phase_at_end = "Deleted";
        return 1;
    }
    if (strcmp(type, "BOOKMARK") == 0)
        return 0;
    if (draw_timeline(w->x, obj) != 0)
        return -1;
    phase = json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
    if (cli_phase_is_final(phase)) {
        w->phase_at_end = strcmp(phase, "Succeeded") == 0 ? "Succeeded" : "Failed";
        return 1;
    }
    return 0;
}

static int cmd_timeline(cli *x)
{
    json_t *rr = NULL;
    kube_watch *w = NULL;
    kube_ref coll = rr_ref(x, "restorerequests", NULL);
    char selector[300];
    watch_state ws = {.x = x};
    int rc = get_rr(&rr, x, x->o.name);
    const char *phase;
    if (rc != 0)
        return rc;
    if (x->o.output != NULL) {
        rc = print_obj(x, json_object_get(json_object_get(rr, "status"), "steps"));
        json_decref(rr);
        return rc == 0 ? 0 : EXIT_FAILED;
    }
    rc = draw_timeline(x, rr);
    phase = json_string_value(json_object_get(json_object_get(rr, "status"), "phase"));
    if (rc != 0 || !x->o.watch || cli_phase_is_final(phase)) {
        int failed = cli_phase_is_final(phase) && strcmp(phase, "Succeeded") != 0 && x->o.watch;
        json_decref(rr);
        return rc != 0 ? EXIT_FAILED : failed ? EXIT_RUN_FAILED : 0;
    }
    /* a watch from the version just drawn: every change after it, none lost */
    snprintf(ws.rv, sizeof(ws.rv), "%s",
             json_string_value(json_object_get(json_object_get(rr, "metadata"),
                                               "resourceVersion")) ?: "");
    json_decref(rr);
    snprintf(selector, sizeof(selector), "metadata.name=%s", x->o.name);
    {
        kube_watch_options wo = {.resource_version = ws.rv, .field_selector = selector,
                                 .timeout_seconds = 300};
        if (kube_watch_new(&w, x->c, &coll, &wo) != 0)
            return api_failed("watch");
    }
    for (;;) {
        rc = kube_watch_run(w, on_watch_event, &ws);
        if (rc == 1)
            break;
        if (rc == LB_EGONE) { /* compacted: start again from a fresh read */
            json_t *cur = NULL;
            if (get_rr(&cur, x, x->o.name) != 0) {
                kube_watch_free(w);
                return EXIT_FAILED;
            }
            kube_watch_set_resource_version(
                w, json_string_value(json_object_get(json_object_get(cur, "metadata"),
                                                     "resourceVersion")));
            rc = on_watch_event("MODIFIED", cur, &ws);
            json_decref(cur);
            if (rc == 1)
                break;
            continue;
        }
        if (rc != 0) {
            kube_watch_free(w);
            return api_failed("watch");
        }
    }
    kube_watch_free(w);
    return strcmp(ws.phase_at_end, "Succeeded") == 0 ? 0 : EXIT_RUN_FAILED;
}

static int cmd_status(cli *x)
{
    static const char *const resources[] = {"restorerequests", "verificationruns",
                                            "backuppolicies"};
    static const char *const kinds[] = {"RestoreRequest", "VerificationRun", "BackupPolicy"};
    json_t *all = json_array();
    const json_t **objs;
    size_t n, i;
    lb_buf b;
    int rc = 0;

    for (size_t k = 0; k < 3 && rc == 0; k++) {
        kube_ref r = rr_ref(x, resources[k], NULL);
        kube_list_options lo = {.limit = 500};
        char *cont = NULL;
        if (x->o.all_namespaces)
            r.namespace = NULL;
        do { /* every page */
            json_t *list = NULL, *item;
            const char *next;
            lo.continue_token = cont;
            rc = kube_list(&list, x->c, &r, &lo);
            free(cont);
            cont = NULL;
            if (rc != 0) {
                rc = api_failed(resources[k]);
                break;
            }
            json_array_foreach(json_object_get(list, "items"), i, item) {
                json_object_set_new(item, "kind", json_string(kinds[k]));
                json_array_append(all, item);
            }
            next = json_string_value(json_object_get(json_object_get(list, "metadata"), "continue"));
            if (next != NULL && next[0] != '\0')
                cont = lb_strdup(next);
            json_decref(list);
        } while (cont != NULL);
    }
    if (rc == 0 && x->o.output != NULL)
        rc = print_obj(x, all) == 0 ? 0 : EXIT_FAILED;
    else if (rc == 0) {
        n = json_array_size(all);
        objs = lb_calloc(n ? n : 1, sizeof(*objs));
        for (i = 0; i < n; i++)
            objs[i] = json_array_get(all, i);
        buf_init(&b, OUTPUT_CAP);
        rc = print_buf(&b, cli_render_status(&b, objs, n, lb_time_now(), x->o.all_namespaces,
                                             x->style)) == 0 ? 0 : EXIT_FAILED;
        free(objs);
    }
    json_decref(all);
    return rc;
}

static int cmd_abort(cli *x)
{
    json_t *ann = json_pack("{s:s}", ABORT_ANNOTATION,
                            x->o.reason != NULL ? x->o.reason : "aborted with kubectl lifeboat");
    if (annotate(NULL, x, "restorerequests", x->o.name, ann, NULL) != 0)
        return api_failed("abort");
    printf("restorerequest %s/%s: abort requested\n", x->ns, x->o.name);
    return 0;
}

static int cmd_backup_now(cli *x)
{
    char token[64];
    json_t *ann;
    if (x->o.token != NULL)
        snprintf(token, sizeof(token), "%s", x->o.token);
    else
        snprintf(token, sizeof(token), "%lld", (long long)time(NULL));
    ann = json_pack("{s:s}", BACKUP_NOW_ANNOTATION, token);
    if (annotate(NULL, x, "backuppolicies", x->o.name, ann, NULL) != 0)
        return api_failed("backup-now");
    printf("backuppolicy %s/%s: backup requested (token %s)\n", x->ns, x->o.name, token);
    return 0;
}

static int cmd_drill(cli *x)
{
    kube_ref pr = rr_ref(x, "backuppolicies", x->o.name);
    kube_ref vr = rr_ref(x, "verificationruns", NULL);
    json_t *bp = NULL, *run = NULL, *made = NULL;
    const json_t *tmpl, *md;
    char name[254];
    int rc;
    if (kube_get(&bp, x->c, &pr) != 0)
        return api_failed("backuppolicy");
    tmpl = json_object_get(json_object_get(json_object_get(bp, "spec"), "verification"),
                           "template");
    if (!json_is_object(tmpl)) {
        fprintf(stderr, "kubectl-lifeboat: backuppolicy %s/%s: spec.verification.template: "
                        "not set, so there is no drill to run\n", x->ns, x->o.name);
        json_decref(bp);
        return EXIT_REFUSED;
    }
    md = json_object_get(bp, "metadata");
    snprintf(name, sizeof(name), "%.200s-drill-%lld", x->o.name, (long long)time(NULL));
    run = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}, s:[{s:s, s:s, s:s, s:s, s:b}]}, s:O}",
                    "apiVersion", "lifeboat.dev/v1alpha1", "kind", "VerificationRun",
                    "metadata", "name", name, "namespace", x->ns, "labels",
                    "lifeboat.dev/backup-policy", x->o.name, "ownerReferences", "apiVersion",
                    "lifeboat.dev/v1alpha1", "kind", "BackupPolicy", "name", x->o.name, "uid",
                    json_string_value(json_object_get(md, "uid")) ?: "", "controller", 1,
                    "spec", json_object_get(tmpl, "spec") ? json_object_get(tmpl, "spec") : tmpl);
    rc = kube_create(&made, x->c, &vr, run);
    json_decref(run);
    json_decref(bp);
    json_decref(made);
    if (rc != 0)
        return api_failed("create the drill's VerificationRun");
    printf("verificationrun %s/%s created\n", x->ns, name);
    return 0;
}

static int cmd_completion(const cli *x)
{
    if (x->o.name == NULL || strcmp(x->o.name, "bash") != 0)
        return usage_error("completion ", x->o.name ?: "", ": only bash is supported");
    fputs("_kubectl_lifeboat() {\n"
          "  local cur=${COMP_WORDS[COMP_CWORD]}\n"
          "  if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
          "    COMPREPLY=($(compgen -W 'plan approve timeline status abort backup-now drill "
          "completion' -- \"$cur\"))\n"
          "  else\n"
          "    case ${COMP_WORDS[1]} in\n"
          "    plan|approve|timeline|abort) COMPREPLY=($(compgen -W \"$(kubectl get rr -o "
          "name 2>/dev/null | cut -d/ -f2)\" -- \"$cur\")) ;;\n"
          "    backup-now|drill) COMPREPLY=($(compgen -W \"$(kubectl get backuppolicies -o "
          "name 2>/dev/null | cut -d/ -f2)\" -- \"$cur\")) ;;\n"
          "    esac\n"
          "  fi\n"
          "}\n"
          "complete -F _kubectl_lifeboat kubectl-lifeboat\n",
          stdout);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int needs_name;
        int (*run)(cli *);
    } commands[] = {
        {"plan", 1, cmd_plan},         {"approve", 1, cmd_approve},
        {"timeline", 1, cmd_timeline}, {"status", 0, cmd_status},
        {"abort", 1, cmd_abort},       {"backup-now", 1, cmd_backup_now},
        {"drill", 1, cmd_drill},
    };
    cli x;
    int rc, found = -1;

    memset(&x, 0, sizeof(x));
    rc = parse(&x.o, argc, argv);
    if (rc != 0)
        return rc;
    if (strcmp(x.o.cmd, "completion") == 0)
        return cmd_completion(&x);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, x.o.cmd) == 0)
            found = (int)i;
    if (found < 0)
        return usage_error("unknown command ", x.o.cmd, "");
    if (commands[found].needs_name && x.o.name == NULL)
        return usage_error("", x.o.cmd, ": a name is required");
    rc = x.o.kubeconfig != NULL ? kube_config_load_path_list(&x.cfg, x.o.kubeconfig, x.o.context)
                                : kube_config_load_default(&x.cfg, x.o.context);
    if (rc != 0) {
        fprintf(stderr, "kubectl-lifeboat: kubeconfig: %s\n", lb_error_last());
        return EXIT_FAILED;
    }
    if (kube_client_new(&x.c, x.cfg, &(kube_client_options){.user_agent = "kubectl-lifeboat",
                                                             .max_retries = 2}) != 0) {
        fprintf(stderr, "kubectl-lifeboat: %s\n", lb_error_last());
        kube_config_free(x.cfg);
        return EXIT_FAILED;
    }
    x.ns = x.o.namespace != NULL ? x.o.namespace : kube_config_namespace(x.cfg);
    x.style = isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL ? CLI_COLOR : CLI_PLAIN;
    rc = commands[found].run(&x);
    kube_client_free(x.c);
    kube_config_free(x.cfg);
    return rc;
}
