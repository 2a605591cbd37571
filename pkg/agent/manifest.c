/* manifest.c - reading and writing backup manifests. */
#include "agent/manifest.h"

#include <stdlib.h>
#include <string.h>

#include "agent/digest.h"
#include "util/alloc.h"
#include "util/error.h"

static const char *const known_suffixes[] = {".enc", ".gz", ".sql", ".dump", ".tar"};

int manifest_parse(manifest *out, const char *text, size_t len, const char *what)
{
    json_error_t jerr;
    memset(out, 0, sizeof(*out));
    out->size_bytes = -1;
    if (len > MANIFEST_MAX_BYTES)
        return lb_error_setc(LB_ETOOBIG, "manifest %s: larger than %d bytes", what,
                             MANIFEST_MAX_BYTES);
    out->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (out->root == NULL || !json_is_object(out->root))
        return lb_error_setc(LB_EINVALID, "manifest %s: not a JSON object (%s)", what,
                             out->root == NULL ? jerr.text : "another JSON type");
    json_t *sha = json_object_get(out->root, "sha256");
    if (!json_is_string(sha))
        return lb_error_setc(LB_EINVALID, "manifest %s: field sha256 is missing or not a string",
                             what);
    if (!digest_is_sha256_hex(json_string_value(sha)))
        return lb_error_setc(LB_EINVALID, "manifest %s: field sha256 must be 64 hex digits", what);
    for (size_t i = 0; i < 64; i++) {
        char ch = json_string_value(sha)[i];
        out->sha256[i] = (char)(ch >= 'A' && ch <= 'F' ? ch - 'A' + 'a' : ch);
    }
    json_t *size = json_object_get(out->root, "sizeBytes");
    if (size != NULL) {
        if (!json_is_integer(size) || json_integer_value(size) < 0)
            return lb_error_setc(
                LB_EINVALID, "manifest %s: field sizeBytes must be a non-negative integer", what);
        out->size_bytes = json_integer_value(size);
    }
    json_t *tables = json_object_get(out->root, "tables");
    if (tables != NULL) {
        const char *k;
        json_t *v;
        if (!json_is_object(tables) || json_object_size(tables) > MANIFEST_MAX_TABLES)
            return lb_error_setc(LB_EINVALID, "manifest %s: field tables must be an object", what);
        json_object_foreach(tables, k, v)
        {
            if (!json_is_integer(v) || json_integer_value(v) < 0)
                return lb_error_setc(LB_EINVALID,
                                     "manifest %s: field tables.%s must be a non-negative integer",
                                     what, k);
        }
    }
    return 0;
}

void manifest_dispose(manifest *m)
{
    if (m == NULL)
        return;
    json_decref(m->root);
    m->root = NULL;
}

json_t *manifest_tables(const manifest *m)
{
    json_t *t = json_object_get(m->root, "tables");
    return json_is_object(t) ? t : NULL;
}

static int has_suffix(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

char *manifest_key_for(const char *object_key)
{
    size_t len = strlen(object_key);
    int stripped = 1;
    while (stripped) {
        stripped = 0;
        for (size_t i = 0; i < sizeof(known_suffixes) / sizeof(known_suffixes[0]); i++) {
            size_t n = strlen(known_suffixes[i]);
            /* Keep at least one character of the base name. */
            if (len > n + 1 && has_suffix(object_key, len, known_suffixes[i]) &&
                object_key[len - n - 1] != '/') {
                len -= n;
                stripped = 1;
            }
        }
    }
    return lb_sprintf("%.*s%s", (int)len, object_key, MANIFEST_SUFFIX);
}

int manifest_is_manifest_key(const char *key)
{
    return has_suffix(key, strlen(key), MANIFEST_SUFFIX);
}

int manifest_build(char **out, const manifest_info *info)
{
    json_t *src = json_pack("{s:s?, s:s?, s:s?}", "host", info->source_host, "database",
                            info->source_database, "serverVersion", info->server_version);
    json_t *root =
        json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s?, s:o, s:O?}", "sha256", info->sha256,
                  "sizeBytes", (json_int_t)info->size_bytes, "createdAt", info->created_at,
                  "format", info->format, "compression", info->compression, "encryption",
                  info->encryption, "object", info->object, "source", src, "tables", info->tables);
    if (root == NULL)
        return lb_error_set("manifest: building the document failed");
    *out = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(root);
    if (*out == NULL)
        return lb_error_set("manifest: serialising the document failed");
    return 0;
}
