/* manifest.h - backup manifests: the runbooks' and Lifeboat's.
 *
 * Runbook 003's manifest is `{"sha256": "<hex>"}`; Lifeboat's (DESIGN.md
 * section 3.3) adds sizeBytes, createdAt, format, compression, encryption,
 * source and `tables` (rows per table at dump time, so that an empty dump
 * is caught). Both are read by manifest_parse; only sha256 is required.
 * The sha256 is of the object as stored in S3 (after compression and
 * encryption), what `sha256sum` of the downloaded file prints.
 *
 * The manifest of `<base><ext>` is `<base>.manifest.json`, where <ext> is
 * the object's known suffixes (.dump .sql .tar .gz .enc, in any
 * combination): runbook 003's `2025-10-01.sql.gz` has
 * `2025-10-01.manifest.json`; Lifeboat's `shop_20260218T010000Z.dump` has
 * `shop_20260218T010000Z.manifest.json`.
 */
#ifndef LB_AGENT_MANIFEST_H
#define LB_AGENT_MANIFEST_H

#include <stdint.h>

#include <jansson.h>

#define MANIFEST_MAX_BYTES  (1024 * 1024) /* a manifest read from S3 */
#define MANIFEST_MAX_TABLES 100000
#define MANIFEST_SUFFIX     ".manifest.json"

typedef struct manifest {
    char sha256[65];    /* lower-case hex */
    int64_t size_bytes; /* -1 when absent */
    json_t *root;       /* the whole document (owned); tables etc. read from it */
} manifest;

/* Parses a manifest. `what` names it in messages (the S3 key). LB_EINVALID
 * naming the field when it is not a JSON object, sha256 is missing or not
 * 64 hex digits, sizeBytes is not a non-negative integer, or tables is not
 * an object of non-negative integers. Dispose *out in every case. */
int manifest_parse(manifest *out, const char *text, size_t len, const char *what);

void manifest_dispose(manifest *m);

/* The rows-per-table object of a Lifeboat manifest (borrowed), or NULL. */
json_t *manifest_tables(const manifest *m);

/* The manifest key of an object key (see above); the caller frees it. */
char *manifest_key_for(const char *object_key);

/* True when key names a manifest (ends with MANIFEST_SUFFIX). */
int manifest_is_manifest_key(const char *key);

/* What pg-backup records. Strings borrowed. */
typedef struct manifest_info {
    const char *sha256;
    int64_t size_bytes;
    const char *created_at;  /* RFC 3339 */
    const char *format;      /* "custom" | "plain" | "tar" */
    const char *compression; /* "gzip" | "pg_dump" (custom format's own) | "none" */
    const char *encryption;  /* "aes-256-gcm" | "none" */
    const char *object;      /* the object's key */
    const char *source_host;
    const char *source_database;
    const char *server_version;
    json_t *tables; /* borrowed; {"schema.table": rows} */
} manifest_info;

/* Serialises a Lifeboat manifest into *out (caller frees). */
int manifest_build(char **out, const manifest_info *info);

#endif
