/* output.c - JSON through jansson, YAML through libyaml's emitter. */
#include "cli/output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "util/error.h"

int cli_write_json(FILE *f, const json_t *v)
{
    if (json_dumpf(v, f, JSON_INDENT(2) | JSON_ENCODE_ANY) != 0 || fputc('\n', f) == EOF)
        return lb_error_setc(LB_ERROR, "output: write failed");
    return 0;
}

static int emit(yaml_emitter_t *e, yaml_event_t *ev)
{
    return yaml_emitter_emit(e, ev) ? 0 : -1;
}

static int emit_scalar(yaml_emitter_t *e, const char *s, int plain_ok)
{
    yaml_event_t ev;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), plain_ok,
                                 !plain_ok, plain_ok ? YAML_ANY_SCALAR_STYLE
                                                     : YAML_DOUBLE_QUOTED_SCALAR_STYLE);
    return emit(e, &ev);
}

/* Non-zero when a plain scalar s would be resolved (YAML 1.1, as kubectl and
 * PyYAML read it) as something other than a string. */
static int looks_typed(const char *s)
{
    static const char *const words[] = {"true", "false", "yes", "no", "on", "off", "y", "n",
                                        "null", "~", ""};
    char *end;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasecmp(s, words[i]) == 0)
            return 1;
    (void)strtod(s, &end);
    return end != s && *end == '\0';
}

static int emit_value(yaml_emitter_t *e, const json_t *v)
{
    yaml_event_t ev;
    char num[64];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
        if (emit(e, &ev) != 0)
            return -1;
        json_object_foreach((json_t *)v, k, x) {
            if (emit_scalar(e, k, 1) != 0 || emit_value(e, x) != 0)
                return -1;
        }
        yaml_mapping_end_event_initialize(&ev);
        return emit(e, &ev);
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
        if (emit(e, &ev) != 0)
            return -1;
        json_array_foreach(v, i, x) {
            if (emit_value(e, x) != 0)
                return -1;
        }
        yaml_sequence_end_event_initialize(&ev);
        return emit(e, &ev);
    }
    case JSON_STRING:
        /* a string that would read back as a number, bool or null is quoted */
        return emit_scalar(e, json_string_value(v), !looks_typed(json_string_value(v)));
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return emit_scalar(e, num, 1);
    case JSON_REAL:
        snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        return emit_scalar(e, num, 1);
    case JSON_TRUE:
        return emit_scalar(e, "true", 1);
    case JSON_FALSE:
        return emit_scalar(e, "false", 1);
    default:
        return emit_scalar(e, "null", 1);
    }
}

int cli_write_yaml(FILE *f, const json_t *v)
{
    yaml_emitter_t e;
    yaml_event_t ev;
    int rc = -1;

    if (!yaml_emitter_initialize(&e))
        return lb_error_setc(LB_ERROR, "output: yaml emitter: out of memory");
    yaml_emitter_set_output_file(&e, f);
    yaml_emitter_set_unicode(&e, 1);
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    if (emit(&e, &ev) != 0)
        goto done;
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    if (emit(&e, &ev) != 0 || emit_value(&e, v) != 0)
        goto done;
    yaml_document_end_event_initialize(&ev, 1);
    if (emit(&e, &ev) != 0)
        goto done;
    yaml_stream_end_event_initialize(&ev);
    rc = emit(&e, &ev);
done:
    if (rc != 0)
        rc = lb_error_setc(LB_ERROR, "output: yaml: %s", e.problem ? e.problem : "write failed");
    yaml_emitter_delete(&e);
    return rc;
}
