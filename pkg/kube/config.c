/* config.c - kubeconfig (libyaml) and in-cluster configuration. */
#include "kube/config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <yaml.h>

#include "util/alloc.h"
#include "util/error.h"
#include "util/timeutil.h"

extern char **environ;

#define SA_DIR           "/var/run/secrets/kubernetes.io/serviceaccount"
#define EXEC_API_V1      "client.authentication.k8s.io/v1"
#define EXEC_API_V1BETA1 "client.authentication.k8s.io/v1beta1"

typedef struct exec_plugin {
    char *api_version;
    char *command;
    char **argv; /* NULL-terminated, argv[0] = command */
    char **env;  /* NULL-terminated "NAME=value" */
    int provide_cluster_info;
    char *field; /* "users[0].user.exec", for messages */
    /* cache */
    char *token;
    unsigned char *cert;
    size_t cert_len;
    unsigned char *key;
    size_t key_len;
    int have;
    time_t expiry; /* 0: no expiry */
} exec_plugin;

struct kube_config {
    char *server;
    char *namespace;
    char *context;
    int insecure;
    unsigned char *ca;
    size_t ca_len;

    pthread_mutex_t lock; /* guards everything below */
    char *token;          /* static token, or the token file's current contents */
    char *token_file;
    char *token_field; /* "users[0].user.tokenFile", for messages */
    dev_t tf_dev;
    ino_t tf_ino;
    off_t tf_size;
    struct timespec tf_mtime;
    int tf_loaded;
    unsigned char *cert;
    size_t cert_len;
    unsigned char *key;
    size_t key_len;
    exec_plugin *exec;
};

/* ---- small helpers ------------------------------------------------------------------ */

static void wipe_free(void *p, size_t n)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, n);
    free(p);
}

static void strv_free(char **v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

/* Reads a whole file of at most `cap` bytes into a NUL-terminated buffer. */
static int read_file_capped(char **out, size_t *out_len, const char *path, size_t cap)
{
    int result = LB_ERROR;
    char *data = NULL;
    size_t used = 0, alloc = 4096;
    FILE *f = fopen(path, "rb");

    *out = NULL;
    if (f == NULL) {
        /* set result first: callers rely on a failure code, never 0, here */
        result = errno == ENOENT ? LB_ENOTFOUND : LB_ERROR;
        lb_error_setc(result, "%s: %s", path, strerror(errno));
        goto done;
    }
    data = lb_malloc(alloc);
    for (;;) {
        size_t n;
        if (used + 1 >= alloc) {
            if (alloc > cap + 1) {
                result = LB_ETOOBIG;
                lb_error_setc(result, "%s: larger than %zu bytes", path, cap);
                goto done;
            }
            alloc *= 2;
            data = lb_realloc(data, alloc);
        }
        n = fread(data + used, 1, alloc - used - 1, f);
        used += n;
        if (used > cap) {
            result = LB_ETOOBIG;
            lb_error_setc(result, "%s: larger than %zu bytes", path, cap);
            goto done;
        }
        if (n == 0) {
            if (ferror(f)) {
                result = LB_ERROR;
                lb_error_set("%s: read failed", path);
                goto done;
            }
            break;
        }
    }
    data[used] = '\0';
    *out = data;
    *out_len = used;
    data = NULL;
    result = 0;
done:
    if (f != NULL)
        fclose(f);
    wipe_free(data, alloc);
    return result;
}

int kube_base64_decode(unsigned char **out, size_t *out_len, const char *in, size_t in_len)
{
    int result = LB_EINVALID;
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    unsigned char *buf = lb_malloc(in_len / 4 * 3 + 4);
    int n = 0, tail = 0;

    *out = NULL;
    *out_len = 0;
    if (ctx == NULL) {
        result = LB_ERROR;
        goto done;
    }
    if (in_len > INT_MAX)
        goto done;
    EVP_DecodeInit(ctx);
    if (EVP_DecodeUpdate(ctx, buf, &n, (const unsigned char *)in, (int)in_len) < 0)
        goto done;
    if (EVP_DecodeFinal(ctx, buf + n, &tail) < 0)
        goto done;
    if (n + tail == 0 && in_len > 0)
        goto done;
    *out = buf;
    *out_len = (size_t)(n + tail);
    buf = NULL;
    result = 0;
done:
    EVP_ENCODE_CTX_free(ctx);
    free(buf);
    return result;
}

/* ---- YAML -> JSON ------------------------------------------------------------------- */

typedef struct yaml_conv {
    yaml_document_t *doc;
    size_t nodes;
} yaml_conv;

static json_t *yaml_scalar_to_json(const yaml_node_t *node)
{
    const char *v = (const char *)node->data.scalar.value;
    size_t len = node->data.scalar.length;

    /* Only plain scalars carry types; quoted ones are always strings. */
    if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 || strcmp(v, "TRUE") == 0)
            return json_true();
        if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0 || strcmp(v, "FALSE") == 0)
            return json_false();
        if (len == 0 || strcmp(v, "null") == 0 || strcmp(v, "~") == 0 || strcmp(v, "Null") == 0 ||
            strcmp(v, "NULL") == 0)
            return json_null();
    }
    return json_stringn(v, len);
}

static int yaml_node_to_json(json_t **out, yaml_conv *cv, yaml_node_t *node, int depth)
{
    json_t *j = NULL;
    int result = LB_EINVALID;

    *out = NULL;
    if (node == NULL)
        return lb_error_setc(LB_EINVALID, "YAML: dangling node");
    if (++cv->nodes > KUBE_CONFIG_MAX_NODES)
        return lb_error_setc(LB_ETOOBIG, "YAML: more than %d nodes", KUBE_CONFIG_MAX_NODES);
    if (depth > KUBE_CONFIG_MAX_DEPTH)
        return lb_error_setc(LB_ETOOBIG, "YAML: nested deeper than %d", KUBE_CONFIG_MAX_DEPTH);

    switch (node->type) {
    case YAML_SCALAR_NODE:
        j = yaml_scalar_to_json(node);
        if (j == NULL) {
            result = lb_error_setc(LB_EINVALID, "YAML: scalar is not valid UTF-8");
            goto done;
        }
        break;
    case YAML_SEQUENCE_NODE:
        j = json_array();
        for (yaml_node_item_t *it = node->data.sequence.items.start;
             it < node->data.sequence.items.top; it++) {
            json_t *child;
            result = yaml_node_to_json(&child, cv, yaml_document_get_node(cv->doc, *it), depth + 1);
            if (result != 0)
                goto done;
            json_array_append_new(j, child);
        }
        break;
    case YAML_MAPPING_NODE:
        j = json_object();
        for (yaml_node_pair_t *pr = node->data.mapping.pairs.start;
             pr < node->data.mapping.pairs.top; pr++) {
            yaml_node_t *k = yaml_document_get_node(cv->doc, pr->key);
            json_t *child;
            if (k == NULL || k->type != YAML_SCALAR_NODE) {
                result = lb_error_setc(LB_EINVALID, "YAML: mapping key is not a scalar");
                goto done;
            }
            result = yaml_node_to_json(&child, cv, yaml_document_get_node(cv->doc, pr->value),
                                       depth + 1);
            if (result != 0)
                goto done;
            json_object_set_new(j, (const char *)k->data.scalar.value, child);
        }
        break;
    default:
        j = json_null();
        break;
    }
    *out = j;
    j = NULL;
    result = 0;
done:
    json_decref(j);
    return result;
}

/* Parses YAML text (the first document) into JSON; an empty file is {}. */
static int yaml_to_json(json_t **out, const char *text, size_t len, const char *path)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_conv cv = {&doc, 0};
    yaml_node_t *root;
    int loaded = 0, result = LB_EINVALID;

    *out = NULL;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        result =
            lb_error_setc(LB_EINVALID, "%s: line %zu: YAML: %s", path, parser.problem_mark.line + 1,
                          parser.problem ? parser.problem : "parse error");
        goto done;
    }
    loaded = 1;
    root = yaml_document_get_root_node(&doc);
    if (root == NULL) {
        *out = json_object();
        result = 0;
        goto done;
    }
    result = yaml_node_to_json(out, &cv, root, 0);
    if (result != 0) {
        lb_error_wrap(result, "%s", path);
        goto done;
    }
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        result = lb_error_setc(LB_EINVALID, "%s: not a kubeconfig (top level is not a map)", path);
    }
done:
    if (loaded)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return result;
}

/* ---- merging ------------------------------------------------------------------------ */

/* A merged entry remembers where it came from, for relative paths and messages. */
static void merge_list(json_t *merged, json_t *doc, const char *list, const char *path)
{
    json_t *arr = json_object_get(doc, list);
    json_t *dst = json_object_get(merged, list);
    size_t i;
    json_t *e;

    if (!json_is_array(arr))
        return;
    json_array_foreach(arr, i, e)
    {
        const char *name = json_string_value(json_object_get(e, "name"));
        json_t *rec;
        char *dir, *slash;
        if (name == NULL || json_object_get(dst, name) != NULL)
            continue;
        dir = lb_strdup(path);
        slash = strrchr(dir, '/');
        if (slash == NULL) {
            free(dir);
            dir = lb_strdup(".");
        } else if (slash == dir) {
            dir[1] = '\0';
        } else {
            *slash = '\0';
        }
        rec = json_pack("{s:s, s:I, s:s, s:O}", "file", path, "index", (json_int_t)i, "dir", dir,
                        "entry", e);
        json_object_set_new(dst, name, rec);
        free(dir);
    }
}

/* ---- typed access with field names -------------------------------------------------- */

typedef struct field_ctx {
    const char *file;
    const char *list; /* "users" */
    json_int_t index;
    const char *inner; /* "user" */
    const char *dir;
} field_ctx;

static void fc_from(field_ctx *fc, json_t *rec, const char *list, const char *inner)
{
    fc->file = json_string_value(json_object_get(rec, "file"));
    fc->index = json_integer_value(json_object_get(rec, "index"));
    fc->dir = json_string_value(json_object_get(rec, "dir"));
    fc->list = list;
    fc->inner = inner;
}

static char *fc_field(const field_ctx *fc, const char *key)
{
    return lb_sprintf("%s[%lld].%s.%s", fc->list, (long long)fc->index, fc->inner, key);
}

static int fc_error(const field_ctx *fc, const char *key, const char *rule)
{
    return lb_error_setc(LB_EINVALID, "%s: %s[%lld].%s.%s: %s", fc->file, fc->list,
                         (long long)fc->index, fc->inner, key, rule);
}

/* A string member: NULL when absent, LB_EINVALID when present but not a string. */
static int fc_string(const char **out, const field_ctx *fc, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return fc_error(fc, key, "must be a string");
    *out = json_string_value(v);
    return 0;
}

static char *fc_path(const field_ctx *fc, const char *p)
{
    if (p[0] == '/' || fc->dir == NULL)
        return lb_strdup(p);
    return lb_sprintf("%s/%s", fc->dir, p);
}

/* Reads `key-data` (base64) or `key` (a file) into *out. Both set: data wins, as kubectl. */
static int fc_pem(unsigned char **out, size_t *out_len, const field_ctx *fc, json_t *obj,
                  const char *key)
{
    char *data_key = lb_sprintf("%s-data", key);
    const char *data = NULL, *file = NULL;
    char *path = NULL, *text = NULL;
    size_t text_len = 0;
    int result;

    *out = NULL;
    *out_len = 0;
    result = fc_string(&data, fc, obj, data_key);
    if (result != 0)
        goto done;
    result = fc_string(&file, fc, obj, key);
    if (result != 0)
        goto done;
    if (data != NULL) {
        result = kube_base64_decode(out, out_len, data, strlen(data));
        if (result != 0) {
            result = fc_error(fc, data_key, "not valid base64");
            goto done;
        }
        if (*out_len > KUBE_PEM_MAX_BYTES) {
            wipe_free(*out, *out_len);
            *out = NULL;
            result = fc_error(fc, data_key, "larger than KUBE_PEM_MAX_BYTES");
        }
        goto done;
    }
    if (file != NULL) {
        path = fc_path(fc, file);
        result = read_file_capped(&text, &text_len, path, KUBE_PEM_MAX_BYTES);
        if (result != 0) {
            char *f = fc_field(fc, key);
            lb_error_wrap(result, "%s: %s", fc->file, f);
            free(f);
            goto done;
        }
        *out = (unsigned char *)text;
        *out_len = text_len;
        text = NULL;
    }
    result = 0;
done:
    free(data_key);
    free(path);
    free(text);
    return result;
}

/* ---- token files -------------------------------------------------------------------- */

static void trim_trailing_space(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

/* Re-reads cfg->token_file when it changed. Caller holds cfg->lock. */
static int token_file_refresh(kube_config *cfg)
{
    struct stat st;
    char *text = NULL;
    size_t len = 0;
    int result;

    if (stat(cfg->token_file, &st) != 0)
        return lb_error_set("%s: %s: %s", cfg->token_field, cfg->token_file, strerror(errno));
    if (cfg->tf_loaded && st.st_dev == cfg->tf_dev && st.st_ino == cfg->tf_ino &&
        st.st_size == cfg->tf_size && st.st_mtim.tv_sec == cfg->tf_mtime.tv_sec &&
        st.st_mtim.tv_nsec == cfg->tf_mtime.tv_nsec)
        return 0;
    result = read_file_capped(&text, &len, cfg->token_file, KUBE_TOKEN_MAX_BYTES);
    if (result != 0)
        return lb_error_wrap(result, "%s", cfg->token_field);
    trim_trailing_space(text);
    if (text[0] == '\0') {
        wipe_free(text, len + 1);
        return lb_error_setc(LB_EINVALID, "%s: %s: empty token", cfg->token_field, cfg->token_file);
    }
    if (cfg->token != NULL)
        wipe_free(cfg->token, strlen(cfg->token));
    cfg->token = text;
    cfg->tf_dev = st.st_dev;
    cfg->tf_ino = st.st_ino;
    cfg->tf_size = st.st_size;
    cfg->tf_mtime = st.st_mtim;
    cfg->tf_loaded = 1;
    return 0;
}

/* ---- exec plugins ------------------------------------------------------------------- */

static void exec_clear_cache(exec_plugin *ex)
{
    if (ex->token != NULL)
        wipe_free(ex->token, strlen(ex->token));
    wipe_free(ex->cert, ex->cert_len);
    wipe_free(ex->key, ex->key_len);
    ex->token = NULL;
    ex->cert = NULL;
    ex->key = NULL;
    ex->cert_len = ex->key_len = 0;
    ex->have = 0;
    ex->expiry = 0;
}

static void exec_free(exec_plugin *ex)
{
    if (ex == NULL)
        return;
    exec_clear_cache(ex);
    free(ex->api_version);
    free(ex->command);
    strv_free(ex->argv);
    strv_free(ex->env);
    free(ex->field);
    free(ex);
}

static int exec_parse(exec_plugin **out, const field_ctx *fc, json_t *user)
{
    json_t *ex_j = json_object_get(user, "exec");
    exec_plugin *ex = lb_calloc(1, sizeof(*ex));
    field_ctx efc = *fc;
    const char *api = NULL, *cmd = NULL, *mode = NULL;
    json_t *args, *env, *v;
    size_t i, n;
    int result;

    *out = NULL;
    efc.inner = "user.exec";
    ex->field = fc_field(fc, "exec");
    if (!json_is_object(ex_j)) {
        result = fc_error(fc, "exec", "must be a map");
        goto done;
    }
    result = fc_string(&api, &efc, ex_j, "apiVersion");
    if (result != 0)
        goto done;
    if (api == NULL || (strcmp(api, EXEC_API_V1) != 0 && strcmp(api, EXEC_API_V1BETA1) != 0)) {
        result = fc_error(&efc, "apiVersion", "must be " EXEC_API_V1 " or " EXEC_API_V1BETA1);
        goto done;
    }
    result = fc_string(&cmd, &efc, ex_j, "command");
    if (result != 0)
        goto done;
    if (cmd == NULL || cmd[0] == '\0') {
        result = fc_error(&efc, "command", "required");
        goto done;
    }
    result = fc_string(&mode, &efc, ex_j, "interactiveMode");
    if (result != 0)
        goto done;
    if (mode != NULL && strcmp(mode, "Always") == 0) {
        result = fc_error(&efc, "interactiveMode",
                          "Always needs a terminal, which this program has not");
        goto done;
    }
    ex->api_version = lb_strdup(api);
    /* kubectl resolves a relative command that contains a '/' against the file's folder. */
    ex->command = (cmd[0] != '/' && strchr(cmd, '/') != NULL) ? fc_path(fc, cmd) : lb_strdup(cmd);
    ex->provide_cluster_info = json_is_true(json_object_get(ex_j, "provideClusterInfo"));

    args = json_object_get(ex_j, "args");
    if (args != NULL && !json_is_null(args) && !json_is_array(args)) {
        result = fc_error(&efc, "args", "must be a list of strings");
        goto done;
    }
    n = json_array_size(args);
    ex->argv = lb_calloc(n + 2, sizeof(char *));
    ex->argv[0] = lb_strdup(ex->command);
    json_array_foreach(args, i, v)
    {
        if (!json_is_string(v)) {
            char *k = lb_sprintf("args[%zu]", i);
            result = fc_error(&efc, k, "must be a string");
            free(k);
            goto done;
        }
        ex->argv[i + 1] = lb_strdup(json_string_value(v));
    }

    env = json_object_get(ex_j, "env");
    if (env != NULL && !json_is_null(env) && !json_is_array(env)) {
        result = fc_error(&efc, "env", "must be a list of {name, value}");
        goto done;
    }
    n = json_array_size(env);
    ex->env = lb_calloc(n + 1, sizeof(char *));
    json_array_foreach(env, i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        const char *value = json_string_value(json_object_get(v, "value"));
        if (name == NULL || name[0] == '\0' || strchr(name, '=') != NULL || value == NULL) {
            char *k = lb_sprintf("env[%zu]", i);
            result = fc_error(&efc, k, "needs a string name (without '=') and a string value");
            free(k);
            goto done;
        }
        ex->env[i] = lb_sprintf("%s=%s", name, value);
    }
    *out = ex;
    ex = NULL;
    result = 0;
done:
    exec_free(ex);
    return result;
}

static int env_has_name(char *const *env, const char *entry)
{
    const char *eq = strchr(entry, '=');
    size_t n = eq ? (size_t)(eq - entry) : strlen(entry);
    for (size_t i = 0; env != NULL && env[i] != NULL; i++)
        if (strncmp(env[i], entry, n) == 0 && env[i][n] == '=')
            return 1;
    return 0;
}

/* The plugin's environment: ours, with the plugin's `env` entries and
 * KUBERNETES_EXEC_INFO overriding same-named variables. */
static char **exec_build_env(const exec_plugin *ex, const char *info)
{
    size_t n_env = 0, n_ours = 0, k = 0;
    char **envp;
    char *info_entry = lb_sprintf("KUBERNETES_EXEC_INFO=%s", info);
    char *over[2] = {info_entry, NULL};

    while (ex->env[n_env] != NULL)
        n_env++;
    while (environ != NULL && environ[n_ours] != NULL)
        n_ours++;
    envp = lb_calloc(n_ours + n_env + 2, sizeof(char *));
    for (size_t i = 0; i < n_ours; i++)
        if (!env_has_name(ex->env, environ[i]) && !env_has_name(over, environ[i]))
            envp[k++] = lb_strdup(environ[i]);
    for (size_t i = 0; i < n_env; i++)
        envp[k++] = lb_strdup(ex->env[i]);
    envp[k++] = info_entry;
    envp[k] = NULL;
    return envp;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Runs the plugin (no shell) and collects at most KUBE_EXEC_MAX_OUTPUT bytes of stdout. */
static int exec_run(char **out, size_t *out_len, const exec_plugin *ex, const char *info)
{
    int result = LB_ERROR;
    int pipefd[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    int fa_init = 0;
    char **envp = exec_build_env(ex, info);
    pid_t pid = -1;
    char *buf = lb_malloc(KUBE_EXEC_MAX_OUTPUT + 1);
    size_t used = 0;
    long deadline = now_ms() + KUBE_EXEC_TIMEOUT_MS;
    int status = 0, rc;

    *out = NULL;
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        result = lb_error_set("%s: pipe: %s", ex->field, strerror(errno));
        goto done;
    }
    posix_spawn_file_actions_init(&fa);
    fa_init = 1;
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    rc = posix_spawnp(&pid, ex->command, &fa, NULL, ex->argv, envp);
    if (rc != 0) {
        pid = -1;
        result =
            lb_error_set("%s.command: cannot run \"%s\": %s", ex->field, ex->command, strerror(rc));
        goto done;
    }
    close(pipefd[1]);
    pipefd[1] = -1;
    for (;;) {
        struct pollfd pfd = {pipefd[0], POLLIN, 0};
        long left = deadline - now_ms();
        ssize_t n;
        if (left <= 0) {
            result = lb_error_setc(LB_ETIMEOUT, "%s: \"%s\" did not finish within %d ms", ex->field,
                                   ex->command, KUBE_EXEC_TIMEOUT_MS);
            goto done;
        }
        rc = poll(&pfd, 1, (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            continue;
        if (used == KUBE_EXEC_MAX_OUTPUT) {
            char probe;
            n = read(pipefd[0], &probe, 1);
            if (n > 0) {
                result = lb_error_setc(LB_ETOOBIG,
                                       "%s: output larger than KUBE_EXEC_MAX_OUTPUT (%u bytes)",
                                       ex->field, KUBE_EXEC_MAX_OUTPUT);
                goto done;
            }
        } else {
            n = read(pipefd[0], buf + used, KUBE_EXEC_MAX_OUTPUT - used);
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            result = lb_error_set("%s: read: %s", ex->field, strerror(errno));
            goto done;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    pid = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        result = lb_error_set("%s: \"%s\" failed (%s %d)", ex->field, ex->command,
                              WIFEXITED(status) ? "exit status" : "signal",
                              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        goto done;
    }
    buf[used] = '\0';
    *out = buf;
    *out_len = used;
    buf = NULL;
    result = 0;
done:
    if (pid > 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    if (fa_init)
        posix_spawn_file_actions_destroy(&fa);
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    strv_free(envp);
    wipe_free(buf, KUBE_EXEC_MAX_OUTPUT + 1);
    return result;
}

static char *exec_info_json(const exec_plugin *ex, const kube_config *cfg)
{
    json_t *info = json_pack("{s:s, s:s, s:{s:b}}", "apiVersion", ex->api_version, "kind",
                             "ExecCredential", "spec", "interactive", 0);
    char *text;
    if (ex->provide_cluster_info) {
        json_t *cluster = json_pack("{s:s, s:b}", "server", cfg->server, "insecure-skip-tls-verify",
                                    cfg->insecure);
        if (cfg->ca != NULL) {
            /* The API carries the CA as base64 of the PEM bytes. */
            size_t enc_len = 4 * ((cfg->ca_len + 2) / 3) + 1;
            unsigned char *enc = lb_malloc(enc_len);
            EVP_EncodeBlock(enc, cfg->ca, (int)cfg->ca_len);
            json_object_set_new(cluster, "certificate-authority-data",
                                json_string((const char *)enc));
            free(enc);
        }
        json_object_set_new(json_object_get(info, "spec"), "cluster", cluster);
    }
    text = json_dumps(info, JSON_COMPACT);
    json_decref(info);
    return text;
}

/* Runs the plugin and fills its cache. Caller holds cfg->lock. */
static int exec_refresh(kube_config *cfg)
{
    exec_plugin *ex = cfg->exec;
    char *info = exec_info_json(ex, cfg);
    char *text = NULL;
    size_t len = 0;
    json_t *doc = NULL, *status;
    json_error_t jerr;
    const char *api, *kind, *token, *cert, *key, *exp;
    int result;

    exec_clear_cache(ex);
    result = exec_run(&text, &len, ex, info);
    if (result != 0)
        goto done;
    doc = json_loadb(text, len, 0, &jerr);
    if (doc == NULL) {
        result = lb_error_setc(LB_EINVALID, "%s: output is not JSON: %s", ex->field, jerr.text);
        goto done;
    }
    api = json_string_value(json_object_get(doc, "apiVersion"));
    kind = json_string_value(json_object_get(doc, "kind"));
    if (kind == NULL || strcmp(kind, "ExecCredential") != 0) {
        result = lb_error_setc(LB_EINVALID, "%s: output kind must be ExecCredential", ex->field);
        goto done;
    }
    if (api == NULL || strcmp(api, ex->api_version) != 0) {
        result = lb_error_setc(LB_EINVALID, "%s: output apiVersion must be %s (as asked)",
                               ex->field, ex->api_version);
        goto done;
    }
    status = json_object_get(doc, "status");
    token = json_string_value(json_object_get(status, "token"));
    cert = json_string_value(json_object_get(status, "clientCertificateData"));
    key = json_string_value(json_object_get(status, "clientKeyData"));
    exp = json_string_value(json_object_get(status, "expirationTimestamp"));
    if ((cert == NULL) != (key == NULL)) {
        result = lb_error_setc(LB_EINVALID,
                               "%s: status.clientCertificateData and status.clientKeyData "
                               "must be given together",
                               ex->field);
        goto done;
    }
    if ((token == NULL || token[0] == '\0') && cert == NULL) {
        result = lb_error_setc(LB_EINVALID,
                               "%s: status has neither token nor clientCertificateData", ex->field);
        goto done;
    }
    if (exp != NULL) {
        lb_time t;
        if (lb_time_parse_rfc3339(&t, exp) != 0) {
            result = lb_error_wrap(LB_EINVALID, "%s: status.expirationTimestamp", ex->field);
            goto done;
        }
        ex->expiry = (time_t)t.sec;
    }
    if (token != NULL && token[0] != '\0')
        ex->token = lb_strdup(token);
    if (cert != NULL) {
        ex->cert_len = strlen(cert);
        ex->cert = (unsigned char *)lb_strndup(cert, ex->cert_len);
        ex->key_len = strlen(key);
        ex->key = (unsigned char *)lb_strndup(key, ex->key_len);
    }
    ex->have = 1;
    result = 0;
done:
    if (result != 0)
        exec_clear_cache(ex);
    free(info);
    if (text != NULL)
        wipe_free(text, len);
    if (doc != NULL) {
        /* jansson keeps its own copies; they go with the document. */
        json_decref(doc);
    }
    return result;
}

/* ---- building a config -------------------------------------------------------------- */

static kube_config *config_alloc(void)
{
    kube_config *cfg = lb_calloc(1, sizeof(*cfg));
    pthread_mutex_init(&cfg->lock, NULL);
    return cfg;
}

void kube_config_free(kube_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->server);
    free(cfg->namespace);
    free(cfg->context);
    free(cfg->ca);
    if (cfg->token != NULL)
        wipe_free(cfg->token, strlen(cfg->token));
    free(cfg->token_file);
    free(cfg->token_field);
    free(cfg->cert);
    wipe_free(cfg->key, cfg->key_len);
    exec_free(cfg->exec);
    pthread_mutex_destroy(&cfg->lock);
    free(cfg);
}

static int config_cluster(kube_config *cfg, json_t *rec)
{
    field_ctx fc;
    json_t *cl;
    const char *server = NULL;
    json_t *insecure;
    int result;
    size_t n;

    fc_from(&fc, rec, "clusters", "cluster");
    cl = json_object_get(json_object_get(rec, "entry"), "cluster");
    if (!json_is_object(cl))
        return lb_error_setc(LB_EINVALID, "%s: clusters[%lld].cluster: required map", fc.file,
                             (long long)fc.index);
    result = fc_string(&server, &fc, cl, "server");
    if (result != 0)
        return result;
    if (server == NULL || server[0] == '\0')
        return fc_error(&fc, "server", "required");
    if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)
        return fc_error(&fc, "server", "must start with https:// or http://");
    cfg->server = lb_strdup(server);
    n = strlen(cfg->server);
    while (n > 0 && cfg->server[n - 1] == '/')
        cfg->server[--n] = '\0';
    insecure = json_object_get(cl, "insecure-skip-tls-verify");
    if (insecure != NULL && !json_is_boolean(insecure) && !json_is_null(insecure))
        return fc_error(&fc, "insecure-skip-tls-verify", "must be true or false");
    cfg->insecure = json_is_true(insecure);
    result = fc_pem(&cfg->ca, &cfg->ca_len, &fc, cl, "certificate-authority");
    if (result != 0)
        return result;
    if (cfg->ca != NULL && cfg->insecure)
        return fc_error(&fc, "insecure-skip-tls-verify",
                        "cannot be true together with a certificate authority");
    return 0;
}

static int config_user(kube_config *cfg, json_t *rec)
{
    field_ctx fc;
    json_t *u;
    const char *token = NULL, *token_file = NULL;
    int result;

    fc_from(&fc, rec, "users", "user");
    u = json_object_get(json_object_get(rec, "entry"), "user");
    if (u == NULL || json_is_null(u))
        return 0;
    if (!json_is_object(u))
        return lb_error_setc(LB_EINVALID, "%s: users[%lld].user: must be a map", fc.file,
                             (long long)fc.index);
    result = fc_string(&token, &fc, u, "token");
    if (result != 0)
        return result;
    result = fc_string(&token_file, &fc, u, "tokenFile");
    if (result != 0)
        return result;
    /* As client-go: a tokenFile, re-read when it changes, wins over an inline token. */
    if (token_file != NULL && token_file[0] != '\0') {
        cfg->token_file = fc_path(&fc, token_file);
        cfg->token_field = fc_field(&fc, "tokenFile");
        result = token_file_refresh(cfg);
        if (result != 0)
            return result;
    } else if (token != NULL && token[0] != '\0') {
        cfg->token = lb_strdup(token);
    }
    result = fc_pem(&cfg->cert, &cfg->cert_len, &fc, u, "client-certificate");
    if (result != 0)
        return result;
    result = fc_pem(&cfg->key, &cfg->key_len, &fc, u, "client-key");
    if (result != 0)
        return result;
    if ((cfg->cert == NULL) != (cfg->key == NULL))
        return fc_error(&fc, cfg->cert ? "client-key-data" : "client-certificate-data",
                        "client-certificate and client-key must be given together");
    if (json_object_get(u, "exec") != NULL && !json_is_null(json_object_get(u, "exec"))) {
        result = exec_parse(&cfg->exec, &fc, u);
        if (result != 0)
            return result;
    }
    if (json_object_get(u, "auth-provider") != NULL)
        return fc_error(&fc, "auth-provider", "not supported (use an exec plugin)");
    if (json_object_get(u, "username") != NULL || json_object_get(u, "password") != NULL)
        return fc_error(&fc, "username", "basic authentication is not supported");
    return 0;
}

int kube_config_load_files(kube_config **out, const char *const *paths, size_t n,
                           const char *context)
{
    int result = LB_ERROR;
    json_t *merged = json_pack("{s:{}, s:{}, s:{}}", "clusters", "users", "contexts");
    char *current = NULL;
    kube_config *cfg = NULL;
    json_t *ctx_rec, *ctx, *cl_rec, *u_rec = NULL;
    const char *cl_name, *u_name, *ns;
    size_t found = 0;
    field_ctx fc;

    *out = NULL;
    if (n > KUBE_CONFIG_MAX_FILES) {
        result =
            lb_error_setc(LB_EINVALID, "KUBECONFIG: more than %d files", KUBE_CONFIG_MAX_FILES);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        char *text = NULL;
        size_t len = 0;
        json_t *doc = NULL;
        const char *cc;
        result = read_file_capped(&text, &len, paths[i], KUBE_CONFIG_MAX_BYTES);
        if (result == LB_ENOTFOUND)
            continue; /* kubectl skips missing files in KUBECONFIG */
        if (result != 0)
            goto done;
        found++;
        result = yaml_to_json(&doc, text, len, paths[i]);
        wipe_free(text, len + 1);
        if (result != 0)
            goto done;
        cc = json_string_value(json_object_get(doc, "current-context"));
        if (current == NULL && cc != NULL && cc[0] != '\0')
            current = lb_strdup(cc);
        merge_list(merged, doc, "clusters", paths[i]);
        merge_list(merged, doc, "users", paths[i]);
        merge_list(merged, doc, "contexts", paths[i]);
        json_decref(doc);
    }
    if (found == 0) {
        result = lb_error_setc(LB_ENOTFOUND, "kubeconfig: none of the %zu file(s) exists", n);
        goto done;
    }
    if (context == NULL || context[0] == '\0')
        context = current;
    if (context == NULL) {
        result = lb_error_setc(LB_EINVALID, "current-context: not set in any kubeconfig file");
        goto done;
    }
    ctx_rec = json_object_get(json_object_get(merged, "contexts"), context);
    if (ctx_rec == NULL) {
        result = lb_error_setc(LB_ENOTFOUND, "%s: contexts: no context named \"%s\"",
                               current == context ? "current-context" : "context", context);
        goto done;
    }
    fc_from(&fc, ctx_rec, "contexts", "context");
    ctx = json_object_get(json_object_get(ctx_rec, "entry"), "context");
    if (!json_is_object(ctx)) {
        result = lb_error_setc(LB_EINVALID, "%s: contexts[%lld].context: required map", fc.file,
                               (long long)fc.index);
        goto done;
    }
    cfg = config_alloc();
    cfg->context = lb_strdup(context);
    result = fc_string(&cl_name, &fc, ctx, "cluster");
    if (result != 0)
        goto done;
    result = fc_string(&u_name, &fc, ctx, "user");
    if (result != 0)
        goto done;
    result = fc_string(&ns, &fc, ctx, "namespace");
    if (result != 0)
        goto done;
    cfg->namespace = lb_strdup(ns != NULL && ns[0] != '\0' ? ns : "default");
    if (cl_name == NULL) {
        result = fc_error(&fc, "cluster", "required");
        goto done;
    }
    cl_rec = json_object_get(json_object_get(merged, "clusters"), cl_name);
    if (cl_rec == NULL) {
        char *msg = lb_sprintf("no cluster named \"%s\"", cl_name);
        fc_error(&fc, "cluster", msg);
        free(msg);
        result = LB_ENOTFOUND;
        goto done;
    }
    if (u_name != NULL && u_name[0] != '\0') {
        u_rec = json_object_get(json_object_get(merged, "users"), u_name);
        if (u_rec == NULL) {
            char *msg = lb_sprintf("no user named \"%s\"", u_name);
            fc_error(&fc, "user", msg);
            free(msg);
            result = LB_ENOTFOUND;
            goto done;
        }
    }
    result = config_cluster(cfg, cl_rec);
    if (result != 0)
        goto done;
    if (u_rec != NULL) {
        result = config_user(cfg, u_rec);
        if (result != 0)
            goto done;
    }
    *out = cfg;
    cfg = NULL;
    result = 0;
done:
    kube_config_free(cfg);
    json_decref(merged);
    free(current);
    return result;
}

int kube_config_load_path_list(kube_config **out, const char *kubeconfig, const char *context)
{
    char *copy = lb_strdup(kubeconfig);
    const char *paths[KUBE_CONFIG_MAX_FILES];
    size_t n = 0;
    char *save = NULL, *tok;
    int result;

    *out = NULL;
    for (tok = strtok_r(copy, ":", &save); tok != NULL; tok = strtok_r(NULL, ":", &save)) {
        if (tok[0] == '\0')
            continue;
        if (n == KUBE_CONFIG_MAX_FILES) {
            free(copy);
            return lb_error_setc(LB_EINVALID, "KUBECONFIG: more than %d files",
                                 KUBE_CONFIG_MAX_FILES);
        }
        paths[n++] = tok;
    }
    if (n == 0) {
        free(copy);
        return lb_error_setc(LB_EINVALID, "KUBECONFIG: no file named");
    }
    result = kube_config_load_files(out, paths, n, context);
    free(copy);
    return result;
}

int kube_config_in_cluster(kube_config **out, const kube_incluster_paths *paths)
{
    kube_incluster_paths p = {0};
    kube_config *cfg = NULL;
    char *text = NULL, *ns = NULL;
    size_t len = 0;
    int result;

    *out = NULL;
    if (paths != NULL)
        p = *paths;
    if (p.host == NULL)
        p.host = getenv("KUBERNETES_SERVICE_HOST");
    if (p.port == NULL)
        p.port = getenv("KUBERNETES_SERVICE_PORT");
    if (p.token_file == NULL)
        p.token_file = SA_DIR "/token";
    if (p.ca_file == NULL)
        p.ca_file = SA_DIR "/ca.crt";
    if (p.namespace_file == NULL)
        p.namespace_file = SA_DIR "/namespace";
    if (p.host == NULL || p.host[0] == '\0' || p.port == NULL || p.port[0] == '\0')
        return lb_error_setc(LB_ENOTFOUND, "in-cluster: KUBERNETES_SERVICE_HOST and "
                                           "KUBERNETES_SERVICE_PORT must be set");
    for (const char *c = p.port; *c; c++)
        if (*c < '0' || *c > '9')
            return lb_error_setc(LB_EINVALID, "in-cluster: KUBERNETES_SERVICE_PORT: not a number");

    cfg = config_alloc();
    cfg->context = lb_strdup("");
    cfg->server = strchr(p.host, ':') != NULL ? lb_sprintf("https://[%s]:%s", p.host, p.port)
                                              : lb_sprintf("https://%s:%s", p.host, p.port);
    cfg->token_file = lb_strdup(p.token_file);
    cfg->token_field = lb_strdup("in-cluster service-account token");
    result = token_file_refresh(cfg);
    if (result != 0)
        goto done;
    result = read_file_capped(&text, &len, p.ca_file, KUBE_PEM_MAX_BYTES);
    if (result != 0) {
        lb_error_wrap(result, "in-cluster CA");
        goto done;
    }
    cfg->ca = (unsigned char *)text;
    cfg->ca_len = len;
    text = NULL;
    if (read_file_capped(&ns, &len, p.namespace_file, 253 + 2) == 0) {
        trim_trailing_space(ns);
        cfg->namespace = ns[0] ? ns : NULL;
        if (cfg->namespace == NULL)
            free(ns);
        ns = NULL;
    }
    lb_error_clear();
    if (cfg->namespace == NULL)
        cfg->namespace = lb_strdup("default");
    *out = cfg;
    cfg = NULL;
    result = 0;
done:
    kube_config_free(cfg);
    free(text);
    free(ns);
    return result;
}

int kube_config_load_default(kube_config **out, const char *context)
{
    const char *env = getenv("KUBECONFIG");
    const char *home = getenv("HOME");
    char *path;
    int result;

    if (env != NULL && env[0] != '\0')
        return kube_config_load_path_list(out, env, context);
    if (getenv("KUBERNETES_SERVICE_HOST") != NULL)
        return kube_config_in_cluster(out, NULL);
    path = lb_sprintf("%s/.kube/config", home ? home : "");
    result = kube_config_load_files(out, (const char *const *)&path, 1, context);
    free(path);
    return result;
}

/* ---- accessors ---------------------------------------------------------------------- */

const char *kube_config_server(const kube_config *cfg)
{
    return cfg->server;
}

const char *kube_config_namespace(const kube_config *cfg)
{
    return cfg->namespace;
}

const char *kube_config_context(const kube_config *cfg)
{
    return cfg->context;
}

int kube_config_insecure(const kube_config *cfg)
{
    return cfg->insecure;
}

const unsigned char *kube_config_ca(const kube_config *cfg, size_t *len)
{
    *len = cfg->ca_len;
    return cfg->ca;
}

static unsigned char *dup_bytes(const unsigned char *p, size_t n)
{
    unsigned char *d = lb_malloc(n + 1);
    memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

int kube_config_credentials(kube_credentials *out, kube_config *cfg)
{
    int result = 0;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&cfg->lock);
    if (cfg->exec != NULL) {
        exec_plugin *ex = cfg->exec;
        if (!ex->have || (ex->expiry != 0 && time(NULL) + KUBE_EXEC_EXPIRY_SKEW >= ex->expiry)) {
            result = exec_refresh(cfg);
            if (result != 0)
                goto done;
        }
        if (ex->token != NULL)
            out->token = lb_strdup(ex->token);
        if (ex->cert != NULL) {
            out->cert = dup_bytes(ex->cert, ex->cert_len);
            out->cert_len = ex->cert_len;
            out->key = dup_bytes(ex->key, ex->key_len);
            out->key_len = ex->key_len;
        }
    }
    if (out->token == NULL && cfg->token_file != NULL) {
        result = token_file_refresh(cfg);
        if (result != 0)
            goto done;
    }
    if (out->token == NULL && cfg->token != NULL)
        out->token = lb_strdup(cfg->token);
    if (out->cert == NULL && cfg->cert != NULL) {
        out->cert = dup_bytes(cfg->cert, cfg->cert_len);
        out->cert_len = cfg->cert_len;
        out->key = dup_bytes(cfg->key, cfg->key_len);
        out->key_len = cfg->key_len;
    }
done:
    pthread_mutex_unlock(&cfg->lock);
    if (result != 0)
        kube_credentials_dispose(out);
    return result;
}

void kube_config_invalidate(kube_config *cfg)
{
    pthread_mutex_lock(&cfg->lock);
    if (cfg->exec != NULL)
        exec_clear_cache(cfg->exec);
    cfg->tf_loaded = 0;
    pthread_mutex_unlock(&cfg->lock);
}

void kube_credentials_dispose(kube_credentials *creds)
{
    if (creds == NULL)
        return;
    if (creds->token != NULL)
        wipe_free(creds->token, strlen(creds->token));
    wipe_free(creds->cert, creds->cert_len);
    wipe_free(creds->key, creds->key_len);
    memset(creds, 0, sizeof(*creds));
}
