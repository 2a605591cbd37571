/* common.c - error lists, paths and status conditions shared by the kinds. */
#include "api/common.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

static char *api__truncdup(const char *s, size_t max)
{
    size_t n = strlen(s);
    return lb_strndup(s, n < max ? n : max);
}

void api_errors_add(api_errors *e, const char *path, const char *fmt, ...)
{
    char rule[API_MAX_RULE + 1];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(rule, sizeof(rule), fmt, ap);
    va_end(ap);
    if (path == NULL)
        path = "";
    for (size_t i = 0; i < e->len; i++)
        if (strcmp(e->v[i].path, path) == 0 && strcmp(e->v[i].rule, rule) == 0)
            return;
    if (e->len >= API_MAX_ERRORS) {
        e->dropped++;
        return;
    }
    if (e->v == NULL)
        e->v = lb_calloc(API_MAX_ERRORS, sizeof(*e->v));
    e->v[e->len].path = api__truncdup(path, API_MAX_PATH);
    e->v[e->len].rule = api__truncdup(rule, API_MAX_RULE);
    e->len++;
}

bool api_errors_has_path(const api_errors *e, const char *path)
{
    for (size_t i = 0; i < e->len; i++)
        if (strcmp(e->v[i].path, path) == 0)
            return true;
    return false;
}

void api_errors_remove(api_errors *e, const char *path, const char *rule_prefix)
{
    size_t w = 0;
    for (size_t i = 0; i < e->len; i++) {
        if (strcmp(e->v[i].path, path) == 0 &&
            strncmp(e->v[i].rule, rule_prefix, strlen(rule_prefix)) == 0) {
            free(e->v[i].path);
            free(e->v[i].rule);
            continue;
        }
        e->v[w++] = e->v[i];
    }
    e->len = w;
}

void api_errors_dispose(api_errors *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->len; i++) {
        free(e->v[i].path);
        free(e->v[i].rule);
    }
    free(e->v);
    memset(e, 0, sizeof(*e));
}

char *api_errors_join(const api_errors *e)
{
    lb_buf b;
    size_t shown = 0;

    buf_init(&b, API_MAX_MESSAGE);
    for (size_t i = 0; i < e->len; i++) {
        if (buf_printf(&b, "%s%s: %s", i ? "; " : "", e->v[i].path, e->v[i].rule) != 0)
            break;
        shown++;
    }
    if (shown < e->len + e->dropped)
        (void)buf_printf(&b, " (and %zu more)", e->len + e->dropped - shown);
    return buf_detach(&b, NULL);
}

int api_errors_fail(const api_errors *e, const char *what)
{
    char *msg = api_errors_join(e);
    lb_error_setc(LB_EINVALID, "invalid %s: %s", what, msg);
    free(msg);
    return LB_EINVALID;
}

char *api_path_field(const char *base, const char *field)
{
    if (base == NULL || base[0] == '\0')
        return lb_strdup(field);
    return lb_sprintf("%s.%s", base, field);
}

char *api_path_index(const char *base, size_t i)
{
    return lb_sprintf("%s[%zu]", base ? base : "", i);
}

const char *api_get_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

bool api_get_bool(const json_t *obj, const char *key, bool fallback)
{
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : fallback;
}

json_int_t api_get_int(const json_t *obj, const char *key, json_int_t fallback)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? json_integer_value(v) : fallback;
}

json_t *api_condition_find(const json_t *status, const char *type)
{
    json_t *conds = json_object_get(status, "conditions");
    size_t i;
    json_t *c;

    json_array_foreach(conds, i, c)
    {
        const char *t = api_get_str(c, "type");
        if (t != NULL && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

static int api__set_str(json_t *obj, const char *key, const char *val)
{
    const char *old = api_get_str(obj, key);
    if (old != NULL && strcmp(old, val) == 0)
        return 0;
    json_object_set_new(obj, key, json_string(val));
    return 1;
}

int api_condition_set(json_t *status, const char *type, const char *cond_status, const char *reason,
                      const char *message, int64_t observed_generation, lb_time now)
{
    char ts[LB_TIME_RFC3339_MAX];
    json_t *conds, *c;
    char *msg;
    int changed = 0;

    if (!json_is_object(status) || type == NULL || type[0] == '\0' || reason == NULL ||
        reason[0] == '\0')
        return lb_error_setc(LB_EINVALID,
                             "condition: status must be an object and type, reason non-empty");
    if (cond_status == NULL ||
        (strcmp(cond_status, "True") != 0 && strcmp(cond_status, "False") != 0 &&
         strcmp(cond_status, "Unknown") != 0))
        return lb_error_setc(LB_EINVALID, "condition %s: status must be True, False or Unknown",
                             type);
    if (lb_time_format(ts, sizeof(ts), now, 0) != 0)
        return LB_EINVALID;
    conds = json_object_get(status, "conditions");
    if (!json_is_array(conds)) {
        conds = json_array();
        json_object_set_new(status, "conditions", conds);
    }
    c = api_condition_find(status, type);
    if (c == NULL) {
        if (json_array_size(conds) >= API_MAX_CONDITIONS)
            return lb_error_setc(LB_ETOOBIG, "condition %s: more than %d conditions", type,
                                 API_MAX_CONDITIONS);
        c = json_object();
        json_object_set_new(c, "type", json_string(type));
        json_array_append_new(conds, c);
        changed = 1;
    }
    if (api__set_str(c, "status", cond_status) ||
        json_object_get(c, "lastTransitionTime") == NULL) {
        json_object_set_new(c, "lastTransitionTime", json_string(ts));
        changed = 1;
    }
    changed |= api__set_str(c, "reason", reason);
    msg = api__truncdup(message ? message : "", API_MAX_MESSAGE);
    changed |= api__set_str(c, "message", msg);
    free(msg);
    if (api_get_int(c, "observedGeneration", -1) != observed_generation ||
        !json_is_integer(json_object_get(c, "observedGeneration"))) {
        json_object_set_new(c, "observedGeneration", json_integer(observed_generation));
        changed = 1;
    }
    return changed;
}

int api_duration_parse(int64_t *out_sec, const char *s)
{
    int64_t total = 0;
    size_t i = 0;

    if (s == NULL || s[0] == '\0')
        return lb_error_setc(LB_EINVALID, "duration: must not be empty");
    while (s[i] != '\0') {
        int64_t n = 0, unit;
        size_t start = i;
        while (isdigit((unsigned char)s[i])) {
            if (n > API_MAX_DURATION_SEC)
                return lb_error_setc(LB_EINVALID, "duration \"%s\": longer than 100 years", s);
            n = n * 10 + (s[i++] - '0');
        }
        if (i == start)
            return lb_error_setc(LB_EINVALID, "duration \"%s\": expected digits at offset %zu", s,
                                 i);
        switch (s[i]) {
        case 's':
            unit = 1;
            break;
        case 'm':
            unit = 60;
            break;
        case 'h':
            unit = 3600;
            break;
        case 'd':
            unit = 86400;
            break;
        case 'w':
            unit = 7 * 86400;
            break;
        case '\0':
            return lb_error_setc(LB_EINVALID, "duration \"%s\": missing unit (s, m, h, d or w)", s);
        default:
            return lb_error_setc(LB_EINVALID,
                                 "duration \"%s\": unknown unit '%c' (s, m, h, d or w)", s, s[i]);
        }
        i++;
        if (n > API_MAX_DURATION_SEC / unit || total + n * unit > API_MAX_DURATION_SEC)
            return lb_error_setc(LB_EINVALID, "duration \"%s\": longer than 100 years", s);
        total += n * unit;
    }
    *out_sec = total;
    return 0;
}

bool api_bucket_name_valid(const char *name, const char **out_rule)
{
    size_t n = strlen(name);
    unsigned a, b, c, d;
    char tail;

    *out_rule = NULL;
    if (n < 3 || n > 63)
        *out_rule = "bucket names are 3-63 characters";
    for (size_t i = 0; *out_rule == NULL && i < n; i++) {
        char ch = name[i];
        bool edge = i == 0 || i == n - 1 || name[i - 1] == '.' || name[i + 1] == '.';
        if (!(islower((unsigned char)ch) || isdigit((unsigned char)ch) || ch == '-' || ch == '.'))
            *out_rule = "bucket names use only a-z, 0-9, '-' and '.'";
        else if (ch == '.' && (i == 0 || i == n - 1 || name[i + 1] == '.'))
            *out_rule =
                "bucket names are dot-separated labels (no leading, trailing or double dot)";
        else if (ch == '-' && edge)
            *out_rule = "each label of a bucket name starts and ends with a letter or digit";
    }
    if (*out_rule == NULL && sscanf(name, "%3u.%3u.%3u.%3u%c", &a, &b, &c, &d, &tail) == 4)
        *out_rule = "bucket names must not be formatted as an IP address";
    if (*out_rule == NULL && (strncmp(name, "xn--", 4) == 0 || strncmp(name, "sthree-", 7) == 0))
        *out_rule = "bucket names must not start with xn-- or sthree-";
    if (*out_rule == NULL && ((n >= 8 && strcmp(name + n - 8, "-s3alias") == 0) ||
                              (n >= 7 && strcmp(name + n - 7, "--ol-s3") == 0)))
        *out_rule = "bucket names must not end with -s3alias or --ol-s3";
    return *out_rule == NULL;
}

bool api_rds_identifier_valid(const char *id, const char **out_rule)
{
    size_t n = strlen(id);

    *out_rule = NULL;
    if (n < 1 || n > 63)
        *out_rule = "RDS identifiers are 1-63 characters";
    else if (!isalpha((unsigned char)id[0]))
        *out_rule = "RDS identifiers start with a letter";
    else if (id[n - 1] == '-')
        *out_rule = "RDS identifiers must not end with a hyphen";
    else if (strstr(id, "--") != NULL)
        *out_rule = "RDS identifiers must not contain two consecutive hyphens";
    for (size_t i = 0; *out_rule == NULL && i < n; i++)
        if (!isalnum((unsigned char)id[i]) && id[i] != '-')
            *out_rule = "RDS identifiers use only letters, digits and hyphens";
    for (size_t i = 0; *out_rule == NULL && i < n; i++)
        if (isupper((unsigned char)id[i]))
            *out_rule = "RDS identifiers are lower case (RDS lower-cases them, so a mixed-case "
                        "name would never be found again under its spelling)";
    return *out_rule == NULL;
}
