/* yaml2json.h - test helper: read a YAML file (first document) into jansson,
 * with YAML 1.2 core-schema typing of plain scalars (null, true/false,
 * integers, floats), as PyYAML and kubectl read the files in examples/ and
 * crds/. Used by tests only; the operator never reads YAML specs. */
#ifndef LB_TEST_YAML2JSON_H
#define LB_TEST_YAML2JSON_H

#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

static json_t *y2j__node(yaml_document_t *doc, yaml_node_t *n, int depth)
{
    if (n == NULL || depth > 64)
        return NULL;
    if (n->type == YAML_SCALAR_NODE) {
        const char *v = (const char *)n->data.scalar.value;
        size_t len = n->data.scalar.length;
        if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
            return json_stringn(v, len);
        if (len == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0)
            return json_null();
        if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0)
            return json_true();
        if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0)
            return json_false();
        regex_t re;
        int is_int, is_float;
        regcomp(&re, "^[-+]?[0-9]+$", REG_EXTENDED | REG_NOSUB);
        is_int = regexec(&re, v, 0, NULL, 0) == 0;
        regfree(&re);
        regcomp(&re, "^[-+]?([0-9]*\\.[0-9]+|[0-9]+\\.[0-9]*)([eE][-+]?[0-9]+)?$",
                REG_EXTENDED | REG_NOSUB);
        is_float = regexec(&re, v, 0, NULL, 0) == 0;
        regfree(&re);
        if (is_int)
            return json_integer(strtoll(v, NULL, 10));
        if (is_float)
            return json_real(strtod(v, NULL));
        return json_stringn(v, len);
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        json_t *a = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            json_t *x = y2j__node(doc, yaml_document_get_node(doc, *it), depth + 1);
            if (x == NULL) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, x);
        }
        return a;
    }
    if (n->type == YAML_MAPPING_NODE) {
        json_t *o = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            json_t *x = y2j__node(doc, yaml_document_get_node(doc, p->value), depth + 1);
            if (k == NULL || k->type != YAML_SCALAR_NODE || x == NULL) {
                json_decref(x);
                json_decref(o);
                return NULL;
            }
            json_object_set_new(o, (const char *)k->data.scalar.value, x);
        }
        return o;
    }
    return NULL;
}

/* The first YAML document of path as JSON (caller decrefs), NULL on error. */
__attribute__((unused)) static json_t *yaml_file_to_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    yaml_parser_t parser;
    yaml_document_t doc;
    json_t *out = NULL;

    if (f == NULL)
        return NULL;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (yaml_parser_load(&parser, &doc)) {
        out = y2j__node(&doc, yaml_document_get_root_node(&doc), 0);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    fclose(f);
    return out;
}

/* Every YAML document of path, as a JSON array (caller decrefs); NULL on a
 * read or syntax error. */
__attribute__((unused)) static json_t *yaml_file_to_json_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    yaml_parser_t parser;
    json_t *out;

    if (f == NULL)
        return NULL;
    out = json_array();
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    for (;;) {
        yaml_document_t doc;
        yaml_node_t *root;
        if (!yaml_parser_load(&parser, &doc)) {
            json_decref(out);
            out = NULL;
            break;
        }
        root = yaml_document_get_root_node(&doc);
        if (root == NULL) { /* end of stream */
            yaml_document_delete(&doc);
            break;
        }
        json_t *j = y2j__node(&doc, root, 0);
        yaml_document_delete(&doc);
        if (j == NULL) {
            json_decref(out);
            out = NULL;
            break;
        }
        json_array_append_new(out, j);
    }
    yaml_parser_delete(&parser);
    fclose(f);
    return out;
}

#endif
