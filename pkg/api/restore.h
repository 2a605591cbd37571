/* restore.h - RestoreRequest spec: parse, validate, typed view.
 *
 * api_restore_parse() validates a RestoreRequest `spec` against the CRD's
 * schema (schema.h: types, enums, patterns, bounds, unknown fields, CEL
 * rules, defaults) and then checks what a schema cannot know: restore times
 * not in the future, durations that fit, `dependsOn` naming items and free of
 * cycles, S3 bucket and RDS identifier rules in full. All errors are
 * collected. On success it returns a typed view of the defaulted spec in which
 * items are also given in execution order (DESIGN.md section 4): canonical
 * class (secretVersion -> databases -> redisRDB -> S3), then `dependsOn`, then
 * the written order.
 *
 * Ownership: the view owns a deep copy of the spec with the defaults filled
 * in (`json`); every `const char *` and `const json_t *` in the view points
 * into that copy and lives until api_restore_free().
 */
#ifndef LB_API_RESTORE_H
#define LB_API_RESTORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/common.h"
#include "util/timeutil.h"

#define API_RESTORE_MAX_ITEMS   32 /* spec.items (the CRD's maxItems) */
#define API_RESTORE_MAX_ROLLOUT 32 /* spec.rollout */

/* Item sources, exactly one per item; the order is the canonical order of
 * their classes and, inside the database class, only a display order. */
typedef enum api_source {
    API_SOURCE_NONE = 0,
    API_SOURCE_SECRET_VERSION,
    API_SOURCE_RDS_POINT_IN_TIME,
    API_SOURCE_RDS_SNAPSHOT,
    API_SOURCE_RDS_IN_PLACE,
    API_SOURCE_RDS_CLUSTER_POINT_IN_TIME,
    API_SOURCE_PG_DUMP,
    API_SOURCE_REDIS_RDB,
    API_SOURCE_S3_OBJECTS,
    API_SOURCE_S3_SYNC,
    API_SOURCE_FILE_ARCHIVE,
    API_SOURCE_JOB,
} api_source;
#define API_SOURCE_COUNT 11

/* Canonical restore classes, in order (runbook 000's full environment order). */
typedef enum api_restore_class {
    API_CLASS_SECRETS = 0,
    API_CLASS_DATABASES = 1,
    API_CLASS_REDIS = 2,
    API_CLASS_S3 = 3,
} api_restore_class;

/* The spec field of a source ("rdsPointInTime"); "" for API_SOURCE_NONE. */
const char *api_source_field(api_source s);
/* The class of a source. A `job` item has no class of its own: it runs at its
 * written place, in the class of the item written before it (the first class
 * when it is written first); api_restore_item.klass holds the result. */
api_restore_class api_source_class(api_source s);

typedef struct api_workload {
    const char *kind; /* Deployment | StatefulSet | DaemonSet */
    const char *name;
} api_workload;

typedef struct api_restore_item {
    const char *name;
    size_t index; /* position in spec.items */
    api_source source;
    const json_t *spec;        /* spec.items[index] */
    const json_t *source_spec; /* spec.items[index].<source field> */
    const char **depends_on;
    size_t n_depends_on;
    /* What the item restores from and into, for messages and plans:
     * RDS: the source instance/cluster or snapshot and the (defaulted) target
     * instance/cluster; in place: the instance for both; pgDump/redisRDB:
     * "s3://bucket/key" or "s3://bucket/<latestUnder>*" and the connection
     * Secret / StatefulSet; s3Objects: "s3://bucket/<prefix or first key>";
     * s3Sync: source and target buckets; secretVersion: the secret id and its
     * version stage or id; fileArchive: the object and "PersistentVolumeClaim
     * <claim>[/<subPath>]"; job: the first container's image and "Job". */
    const char *source_id;
    const char *target_id;
    const char *writer_id; /* rdsClusterPointInTime: writer instance (defaulted) */
    bool promote_rename;   /* promote: rename */
    bool has_verify;       /* verify.checks present */
    bool has_migrations;
    size_t n_secret_patches;
    api_restore_class klass;        /* the class it is ordered by (see api_source_class) */
    const api_workload *scale_down; /* item, pgDump or fileArchive scaleDown */
    size_t n_scale_down;
    bool cleanup_delete_old;
    int64_t cleanup_after_sec;
    bool has_restore_time; /* restoreTime / restoreToTime / pointInTime given */
    lb_time restore_time;
} api_restore_item;

typedef struct api_restore_spec {
    json_t *json; /* owned: the spec with defaults applied */
    bool dry_run;
    bool approval_required;
    bool rollback_on_failure;
    api_restore_item *items; /* in written order */
    size_t n_items;
    size_t *order; /* n_items indices into items, in execution order */
    api_workload *rollout;
    size_t n_rollout;
    bool has_verification;
    const json_t *timeouts;   /* spec.timeouts ({camelCaseAction: duration}) or NULL */
    bool abort_delete_copies; /* spec.onAbort.deleteCopies (default false) */
    bool delete_keep_copies;  /* spec.onDelete.keepCopies (default false) */
    /* owned storage behind the view */
    char **strings;
    size_t n_strings;
    api_workload *workloads;
} api_restore_spec;

/* Parses and validates a RestoreRequest spec (the object under `spec`) at
 * time `now` (restore times must not be after it). Errors are added to errs
 * (which may be NULL when only the message is wanted) with paths starting at
 * "spec". Returns 0 and *out (free with
 * api_restore_free()), or LB_EINVALID with lb_error set to the joined message
 * ("invalid RestoreRequest spec: <path>: <rule>; ..."); *out is then NULL. */
int api_restore_parse(api_restore_spec **out, api_errors *errs, const json_t *spec, lb_time now);

/* The Secret that keeps a request's original Secret values for rollback is
 * API_RESTORE_ROLLBACK_PREFIX + metadata.name; a Secret name has at most 253
 * characters, so a RestoreRequest name may have at most API_RESTORE_MAX_NAME. */
#define API_RESTORE_ROLLBACK_PREFIX "lifeboat-rollback-"
#define API_RESTORE_MAX_NAME        (253 - (int)(sizeof(API_RESTORE_ROLLBACK_PREFIX) - 1))

/* Checks a RestoreRequest's metadata.name against the names derived from it
 * (at most API_RESTORE_MAX_NAME characters), so that a name the cutover could
 * not use is refused before anything runs. Returns 0, or LB_EINVALID with the
 * error added to errs (path "metadata.name"; errs may be NULL) and lb_error
 * set. */
int api_restore_check_name(api_errors *errs, const char *name);

void api_restore_free(api_restore_spec *s);

/* The item with this name; borrowed, NULL if none. */
const api_restore_item *api_restore_item_find(const api_restore_spec *s, const char *name);

#endif
