/* pgjob.h - lifeboat-agent's pg-restore and pg-backup.
 *
 * pg-restore (runbooks 000 1C, 003 section 2, 004 P1):
 *   1. the object: --key, or the newest usable backup under --latest-under
 *      (agent/latest.h: with a manifest when the manifest is required);
 *   2. the manifest (<base>.manifest.json, see manifest.h): `required`
 *      fails without one, `optional` uses it when present, `none` skips it;
 *   3. with a manifest, with --verify-only or with --jobs > 1 the object is
 *      downloaded to --work-dir while hashed, and its sha256 (and size) are
 *      checked BEFORE anything else: a mismatch stops here, the database
 *      untouched. Without a manifest it streams straight from S3 into the
 *      loader, hashed on the way (the sha256 is reported, not checked);
 *   4. decrypt (LBAGCM01 or openssl's Salted__, see cipher.h), gunzip when
 *      gzip, then recognise the content: "PGDMP" is a custom-format dump,
 *      SQL text a plain dump; anything else (a wrong CBC passphrase gives
 *      random bytes) is refused before the database is touched;
 *   5. only then --recreate-database drops and recreates the database, and
 *      the load runs: `pg_restore --no-owner --no-acl --clean --if-exists
 *      --exit-on-error --single-transaction [--table ...]` reading stdin, or
 *      with --jobs N > 1 `pg_restore -j N` from a decoded file in the work
 *      dir (pg_restore cannot run parallel from a pipe, nor in one
 *      transaction); plain SQL goes to `psql -v ON_ERROR_STOP=1
 *      --single-transaction`. With tables[] into a live database the
 *      tables' rows are replaced and the live schema kept (a --clean would
 *      drop the table, and fail on any view over it): `pg_restore
 *      --data-only --table ...` writes their data as SQL into the work dir,
 *      then one psql transaction runs DELETE FROM each table and loads it. A stream that fails
 * halfway kills the loader before its stdin closes, so its transaction rolls back;
 *   6. the rows of the restored tables are counted, checked against the
 *      manifest's `tables` when it has them, and a one-line JSON result
 *      ends the log.
 *
 * pg-backup: a REPEATABLE READ transaction exports its snapshot, counts
 * every table's rows in it, and `pg_dump -Fc --snapshot=<id>` dumps that
 * same snapshot, uncompressed (-Z0); the agent gzips it on worker threads
 * (pgzip.h; the object is a gzip stream around a custom-format dump, which
 * pg-restore's gunzip stage opens), encrypts it (AES-256-GCM) and hashes it on its way into a streaming multipart upload,
 * no temporary file. The manifest is written last, only after the upload
 * completed, so a manifest exists only for a complete backup.
 */
#ifndef LB_AGENT_PGJOB_H
#define LB_AGENT_PGJOB_H

#include <stdbool.h>

#include <jansson.h>

#include "aws/request.h"

#define PGJOB_MAX_TABLES 256
#define PGJOB_MAX_JOBS   32

typedef enum pgjob_manifest_mode {
    PGJOB_MANIFEST_OPTIONAL = 0,
    PGJOB_MANIFEST_REQUIRED = 1,
    PGJOB_MANIFEST_NONE = 2,
} pgjob_manifest_mode;

typedef struct pgjob_restore_opts {
    const char *bucket;
    const char *key;          /* or */
    const char *latest_under; /* a prefix */
    const char *manifest_key; /* NULL: derived from the key */
    pgjob_manifest_mode manifest;
    const unsigned char *decryption_key; /* NULL: refuse encrypted objects */
    size_t decryption_key_len;
    const char *db_url; /* secret; never logged */
    bool recreate_database;
    bool create_database; /* a copy: CREATE DATABASE first, fail when it exists */
    const char *tables[PGJOB_MAX_TABLES];
    int ntables;
    int jobs;             /* 0/1: one, streamed */
    const char *work_dir; /* for downloads */
    bool verify_only;
    const char *const *secret_env; /* env names kept from children */
} pgjob_restore_opts;

/* Runs pg-restore. *out (always set, caller decrefs) is the JSON result
 * ("result": "succeeded" | "failed", object, sha256, bytes, rows, tables,
 * durationSeconds, error). Returns 0 or the failure's code. */
int pgjob_restore(json_t **out, aws_client *c, const pgjob_restore_opts *o);

typedef struct pgjob_backup_opts {
    const char *bucket;
    const char *key;                     /* or */
    const char *prefix;                  /* <prefix><db>_<YYYYMMDDTHHMMSSZ>.dump */
    const unsigned char *encryption_key; /* NULL only with allow_plaintext */
    size_t encryption_key_len;
    bool allow_plaintext;
    const char *db_url;
    size_t part_size;
    int compress_level;   /* zlib level, 0..9 (0: none) */
    bool compress_in_dump; /* pg_dump -Z<level> (agents before 2026-12-04); else the agent */
    int compress_threads;  /* the agent's compression threads; 0: PGJOB_DEFAULT_COMPRESS_THREADS */
    const char *const *secret_env;
} pgjob_backup_opts;

/* pg-backup's pg_dump -Z when the caller does not choose: zlib level 1.
 * pg_dump's own default (6) spends several times the CPU for an object a
 * little smaller; a backup's wall time is what an incident waits for
 * (README "pg-backup compression"). */
#define PGJOB_DEFAULT_COMPRESS_LEVEL 1

/* The agent compresses (pg_dump -Z0 piped into gzip members made on this many
 * threads, pgzip.h) so that pg_dump's row formatting and the compression use
 * different cores (pkg/agent/README.md, pg-backup). */
#define PGJOB_DEFAULT_COMPRESS_THREADS 2

/* Runs pg-backup; *out as for pgjob_restore (plus manifest). */
int pgjob_backup(json_t **out, aws_client *c, const pgjob_backup_opts *o);

typedef struct pgjob_archive_opts {
    const char *bucket;
    const char *key; /* or */
    const char *latest_under;
    pgjob_manifest_mode manifest;
    const unsigned char *decryption_key;
    size_t decryption_key_len;
    const char *target;   /* an existing directory (the PVC's mount); unused with verify_only */
    const char *work_dir; /* download and decoded tar */
    bool verify_only;     /* everything but the extract: download, sha256, decode, archive_check */
} pgjob_archive_opts;

/* archive-restore (runbook 004 P3): download to the work dir while hashed,
 * check the manifest, decrypt and gunzip into a plain tar (so a wrong key or
 * a damaged object fails before anything is written), then
 * archive_extract_safe into target: an archive with an absolute path, a
 * ".." or a link escaping the target extracts nothing. */
int pgjob_archive_restore(json_t **out, aws_client *c, const pgjob_archive_opts *o);

#endif
