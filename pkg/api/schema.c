/* schema.c - OpenAPI v3 structural-schema validation with defaults and CEL. */
#include "api/schema.h"

#include <pthread.h>
#include <regex.h>
#include <string.h>

#include "api/cel.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/timeutil.h"

#define SCHEMA_MAX_PATTERN 512 /* bytes of one pattern after translation */

static json_t *schemas[3];
static pthread_once_t schemas_once = PTHREAD_ONCE_INIT;

static void schema__load(void)
{
    const char *texts[3] = {api_schema_restorerequest_json, api_schema_verificationrun_json,
                            api_schema_backuppolicy_json};
    for (int i = 0; i < 3; i++)
        schemas[i] = json_loads(texts[i], 0, NULL);
}

const json_t *api_schema_get(api_kind kind)
{
    pthread_once(&schemas_once, schema__load);
    if ((int)kind < 0 || kind > API_KIND_BACKUP_POLICY)
        return NULL;
    return schemas[kind];
}

/* ---------------------------------------------------------------- patterns */

typedef struct schema_pattern {
    char *source;
    regex_t re;
} schema_pattern;

static schema_pattern patterns[API_MAX_PATTERNS];
static size_t n_patterns;
static pthread_mutex_t patterns_lock = PTHREAD_MUTEX_INITIALIZER;

/* ECMA-262 -> POSIX ERE for the constructs the CRDs use. */
static int schema__translate(lb_buf *out, const char *p)
{
    bool in_bracket = false;
    size_t bracket_start = 0;

    for (size_t i = 0; p[i] != '\0'; i++) {
        char c = p[i];
        if (c == '\\' && p[i + 1] != '\0') {
            char e = p[++i];
            if (e == 'x' && p[i + 1] == '0' && p[i + 2] == '0') {
                i += 2; /* NUL cannot occur in a C string: drop it */
                continue;
            }
            if (e == 's' || e == 'S' || e == 'd') {
                const char *cls = e == 'd' ? "0-9" : "[:space:]";
                if (in_bracket) {
                    if (e == 'S')
                        return -1;
                    buf_append_str(out, cls);
                } else {
                    buf_printf(out, "[%s%s]", e == 'S' ? "^" : "", cls);
                }
                continue;
            }
            if (in_bracket) {
                char lit[2] = {e, 0};
                buf_append_str(out, lit);
            } else {
                char lit[3] = {'\\', e, 0};
                buf_append_str(out, lit);
            }
            continue;
        }
        if (!in_bracket && c == '[') {
            in_bracket = true;
            bracket_start = buf_len(out);
            buf_append_str(out, "[");
            if (p[i + 1] == '^') {
                buf_append_str(out, "^");
                i++;
            }
            continue;
        }
        if (in_bracket && c == ']') {
            const char *body = buf_cstr(out) + bracket_start;
            in_bracket = false;
            if (strcmp(body, "[^") == 0) { /* was [^\x00]: any character */
                char *head = lb_strndup(buf_cstr(out), bracket_start);
                buf_reset(out);
                buf_append_str(out, head);
                free(head);
                buf_append_str(out, ".");
                continue;
            }
        }
        char lit[2] = {c, 0};
        if (buf_append_str(out, lit) != 0)
            return -1;
    }
    return in_bracket ? -1 : 0;
}

int api_pattern_match(const char *pattern, const char *s)
{
    regex_t *re = NULL;
    int rc;

    pthread_mutex_lock(&patterns_lock);
    for (size_t i = 0; i < n_patterns; i++)
        if (strcmp(patterns[i].source, pattern) == 0)
            re = &patterns[i].re;
    if (re == NULL) {
        lb_buf b;
        buf_init(&b, SCHEMA_MAX_PATTERN);
        if (n_patterns >= API_MAX_PATTERNS || schema__translate(&b, pattern) != 0 ||
            regcomp(&patterns[n_patterns].re, buf_cstr(&b), REG_EXTENDED | REG_NOSUB) != 0) {
            buf_dispose(&b);
            pthread_mutex_unlock(&patterns_lock);
            return lb_error_setc(LB_EINVALID, "pattern %s cannot be used", pattern);
        }
        buf_dispose(&b);
        patterns[n_patterns].source = lb_strdup(pattern);
        re = &patterns[n_patterns++].re;
    }
    pthread_mutex_unlock(&patterns_lock);
    rc = regexec(re, s, 0, NULL, 0);
    return rc == 0;
}

/* ---------------------------------------------------------------- CEL programs */

/* Compiled rules of the embedded schemas, keyed by the address of the rule
 * text (which lives as long as the schemas do); compiled on first use. */
typedef struct schema_rule {
    const char *rule;
    cel_program *prog;
} schema_rule;

static schema_rule compiled_rules[API_MAX_RULES];
static size_t n_rules;
static pthread_mutex_t rules_lock = PTHREAD_MUTEX_INITIALIZER;

static int schema__eval_rule(const char *rule, const json_t *self)
{
    const cel_program *prog = NULL;
    cel_program *compiled = NULL;

    pthread_mutex_lock(&rules_lock);
    for (size_t i = 0; i < n_rules && prog == NULL; i++)
        if (compiled_rules[i].rule == rule)
            prog = compiled_rules[i].prog;
    if (prog == NULL && n_rules < API_MAX_RULES && cel_compile(&compiled, rule) == 0) {
        compiled_rules[n_rules].rule = rule;
        compiled_rules[n_rules++].prog = compiled;
        prog = compiled;
    }
    pthread_mutex_unlock(&rules_lock);
    if (prog == NULL) /* cache full or a syntax error: the uncached path says which */
        return cel_eval_bool(rule, self);
    return cel_program_eval(prog, self);
}

/* ---------------------------------------------------------------- validation */

static size_t schema__node(json_t *v, const json_t *sch, const char *path, api_errors *e);

static size_t schema__utf8_len(const char *s, size_t n)
{
    size_t cps = 0;
    for (size_t i = 0; i < n; i++)
        cps += ((unsigned char)s[i] & 0xC0) != 0x80;
    return cps;
}

static const char *schema__type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

static bool schema__type_ok(const json_t *v, const char *type)
{
    if (strcmp(type, "object") == 0)
        return json_is_object(v);
    if (strcmp(type, "array") == 0)
        return json_is_array(v);
    if (strcmp(type, "string") == 0)
        return json_is_string(v);
    if (strcmp(type, "integer") == 0)
        return json_is_integer(v);
    if (strcmp(type, "number") == 0)
        return json_is_number(v);
    if (strcmp(type, "boolean") == 0)
        return json_is_boolean(v);
    return false;
}

static void schema__value_text(char *out, size_t n, const json_t *v)
{
    char *d = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (d != NULL && strlen(d) > 64)
        snprintf(out, n, "%.61s...", d);
    else
        snprintf(out, n, "%s", d ? d : "?");
    free(d);
}

static size_t schema__string(const json_t *v, const json_t *sch, const char *path, api_errors *e)
{
    const char *s = json_string_value(v);
    size_t len = schema__utf8_len(s, json_string_length(v));
    size_t before = e->len + e->dropped;
    const char *pattern = api_get_str(sch, "pattern");
    const char *format = api_get_str(sch, "format");
    json_int_t max = api_get_int(sch, "maxLength", -1), min = api_get_int(sch, "minLength", -1);

    if (strlen(s) != json_string_length(v)) {
        api_errors_add(e, path, "must not contain NUL characters");
        return 1;
    }
    if (max >= 0 && len > (size_t)max)
        api_errors_add(e, path, "must be at most %lld characters, got %zu", (long long)max, len);
    if (min >= 0 && len < (size_t)min)
        api_errors_add(e, path, "must be at least %lld characters, got %zu", (long long)min, len);
    if (pattern != NULL && (max < 0 || len <= (size_t)max)) {
        int m = api_pattern_match(pattern, s);
        if (m == 0)
            api_errors_add(e, path, "must match %s", pattern);
        else if (m < 0)
            api_errors_add(e, path, "%s", lb_error_last());
    }
    if (format != NULL && strcmp(format, "date-time") == 0) {
        lb_time t;
        if (lb_time_parse_rfc3339(&t, s) != 0)
            api_errors_add(e, path, "must be an RFC 3339 date-time: %s", lb_error_last());
    }
    return e->len + e->dropped - before;
}

static size_t schema__number(const json_t *v, const json_t *sch, const char *path, api_errors *e)
{
    size_t before = e->len + e->dropped;
    double x = json_number_value(v);
    const json_t *min = json_object_get(sch, "minimum"), *max = json_object_get(sch, "maximum");
    const char *format = api_get_str(sch, "format");

    if (json_is_number(min) && x < json_number_value(min))
        api_errors_add(e, path, "must be >= %.15g", json_number_value(min));
    if (json_is_number(max) && x > json_number_value(max))
        api_errors_add(e, path, "must be <= %.15g", json_number_value(max));
    if (format != NULL && strcmp(format, "int32") == 0 && json_is_integer(v) &&
        (json_integer_value(v) < INT32_MIN || json_integer_value(v) > INT32_MAX))
        api_errors_add(e, path, "must fit in a 32-bit integer");
    return e->len + e->dropped - before;
}

static void schema__key_text(lb_buf *b, const json_t *item, const json_t *keys)
{
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        char val[80];
        schema__value_text(val, sizeof(val), json_object_get(item, json_string_value(k)));
        buf_printf(b, "%s%s=%s", i ? ", " : "", json_string_value(k), val);
    }
}

static size_t schema__array(json_t *v, const json_t *sch, const char *path, api_errors *e)
{
    size_t before = e->len + e->dropped, n = json_array_size(v), i;
    json_int_t max = api_get_int(sch, "maxItems", -1), min = api_get_int(sch, "minItems", -1);
    const json_t *items = json_object_get(sch, "items");
    const char *list_type = api_get_str(sch, "x-kubernetes-list-type");
    const json_t *map_keys = json_object_get(sch, "x-kubernetes-list-map-keys");
    json_t *elem;

    if (max >= 0 && n > (size_t)max) {
        /* do not walk an oversized list: bounded work on hostile input */
        api_errors_add(e, path, "must have at most %lld items, got %zu", (long long)max, n);
        return 1;
    }
    if (min >= 0 && n < (size_t)min)
        api_errors_add(e, path, "must have at least %lld items, got %zu", (long long)min, n);
    json_array_foreach(v, i, elem)
    {
        char *p = api_path_index(path, i);
        if (items != NULL)
            schema__node(elem, items, p, e);
        free(p);
    }
    if (list_type != NULL && (strcmp(list_type, "set") == 0 || strcmp(list_type, "map") == 0)) {
        bool is_map = strcmp(list_type, "map") == 0 && json_is_array(map_keys);
        for (i = 1; i < n; i++) {
            for (size_t j = 0; j < i; j++) {
                json_t *a = json_array_get(v, i), *b = json_array_get(v, j);
                bool same = true;
                if (is_map) {
                    size_t k;
                    json_t *key;
                    json_array_foreach(map_keys, k, key)
                    {
                        const char *ks = json_string_value(key);
                        json_t *x = json_object_get(a, ks), *y = json_object_get(b, ks);
                        if (x == NULL || y == NULL || !json_equal(x, y))
                            same = false;
                    }
                } else {
                    same = json_equal(a, b);
                }
                if (!same)
                    continue;
                char *p = api_path_index(path, i);
                lb_buf kt;
                buf_init(&kt, 256);
                if (is_map)
                    schema__key_text(&kt, a, map_keys);
                else {
                    char val[80];
                    schema__value_text(val, sizeof(val), a);
                    buf_append_str(&kt, val);
                }
                api_errors_add(e, p, "duplicate entry (%s), already at %s[%zu]", buf_cstr(&kt),
                               path, j);
                buf_dispose(&kt);
                free(p);
                break;
            }
        }
    }
    return e->len + e->dropped - before;
}

static size_t schema__object(json_t *v, const json_t *sch, const char *path, api_errors *e)
{
    size_t before = e->len + e->dropped, i;
    const json_t *props = json_object_get(sch, "properties");
    const json_t *addl = json_object_get(sch, "additionalProperties");
    const json_t *required = json_object_get(sch, "required");
    const char *key;
    json_t *val, *req;

    if (props == NULL && addl == NULL)
        return 0; /* free-form (metadata) */
    /* defaults first, as the API server applies them before validating */
    json_object_foreach((json_t *)props, key, val)
    {
        json_t *def = json_object_get(val, "default");
        if (def != NULL && json_object_get(v, key) == NULL)
            json_object_set_new(v, key, json_deep_copy(def));
    }
    json_array_foreach(required, i, req)
    {
        const char *r = json_string_value(req);
        if (r != NULL && json_object_get(v, r) == NULL) {
            char *p = api_path_field(path, r);
            api_errors_add(e, p, "is required");
            free(p);
        }
    }
    json_object_foreach(v, key, val)
    {
        const json_t *sub = json_object_get(props, key);
        char *p = api_path_field(path, key);
        if (sub == NULL && json_is_object(addl))
            sub = addl;
        if (sub == NULL)
            api_errors_add(e, p, "unknown field");
        else
            schema__node(val, sub, p, e);
        free(p);
    }
    return e->len + e->dropped - before;
}

static size_t schema__cel(json_t *v, const json_t *sch, const char *path, api_errors *e)
{
    const json_t *rules = json_object_get(sch, "x-kubernetes-validations");
    size_t before = e->len + e->dropped, i;
    json_t *r;

    json_array_foreach(rules, i, r)
    {
        const char *rule = api_get_str(r, "rule"), *msg = api_get_str(r, "message");
        const char *field = api_get_str(r, "fieldPath");
        char *p = field != NULL ? lb_sprintf("%s%s", path, field) : lb_strdup(path);
        int rc = rule != NULL ? schema__eval_rule(rule, v) : 1;
        if (rc == 0)
            api_errors_add(e, p, "%s", msg != NULL ? msg : rule);
        else if (rc < 0)
            api_errors_add(e, p, "rule %s could not be evaluated: %s", rule, lb_error_last());
        free(p);
    }
    return e->len + e->dropped - before;
}

static size_t schema__node(json_t *v, const json_t *sch, const char *path, api_errors *e)
{
    const char *type = api_get_str(sch, "type");
    const json_t *en = json_object_get(sch, "enum");
    size_t n = 0;

    if (api_get_bool(sch, "x-kubernetes-int-or-string", false)) {
        if (!json_is_integer(v) && !json_is_string(v)) {
            api_errors_add(e, path, "must be an integer or a string, got %s", schema__type_name(v));
            return 1;
        }
    } else if (type != NULL && !schema__type_ok(v, type)) {
        api_errors_add(e, path, "must be of type %s, got %s", type, schema__type_name(v));
        return 1;
    }
    if (json_is_array(en) && json_array_size(en) > 0) {
        size_t i;
        json_t *x;
        bool found = false;
        json_array_foreach(en, i, x)
        {
            if (json_equal(x, v))
                found = true;
        }
        if (!found) {
            lb_buf b;
            char got[80];
            buf_init(&b, API_MAX_RULE);
            json_array_foreach(en, i, x)
            {
                char one[80];
                schema__value_text(one, sizeof(one), x);
                buf_printf(&b, "%s%s", i ? ", " : "", one);
            }
            schema__value_text(got, sizeof(got), v);
            api_errors_add(e, path, "must be one of %s, got %s", buf_cstr(&b), got);
            buf_dispose(&b);
            n++;
        }
    }
    if (json_is_string(v))
        n += schema__string(v, sch, path, e);
    else if (json_is_number(v))
        n += schema__number(v, sch, path, e);
    else if (json_is_array(v))
        n += schema__array(v, sch, path, e);
    else if (json_is_object(v))
        n += schema__object(v, sch, path, e);
    if (n == 0)
        n += schema__cel(v, sch, path, e);
    return n;
}

size_t api_schema_validate(json_t *value, api_kind kind, const char *spec_path, const char *path,
                           api_errors *errs)
{
    const json_t *sch = api_schema_get(kind);
    char *copy, *save = NULL;

    if (sch == NULL) {
        api_errors_add(errs, path, "no schema for this kind");
        return 1;
    }
    copy = lb_strdup(spec_path);
    for (char *part = strtok_r(copy, ".", &save); part != NULL; part = strtok_r(NULL, ".", &save))
        sch = json_object_get(json_object_get(sch, "properties"), part);
    free(copy);
    if (sch == NULL) {
        api_errors_add(errs, path, "no schema at %s", spec_path);
        return 1;
    }
    return schema__node(value, sch, path, errs);
}
