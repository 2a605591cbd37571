/* plan.c - the restore planner (see plan.h for the step names). */
#include "controller/plan.h"

#include <stdarg.h>
#include <string.h>

#include "util/alloc.h"
#include "util/error.h"

typedef struct plan_builder {
    plan *p;
    size_t cap;
    int err;
} plan_builder;

static void plan__add(plan_builder *b, plan_stage stage, const char *item, const char *action,
                      bool destructive, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void plan__add(plan_builder *b, plan_stage stage, const char *item, const char *action,
                      bool destructive, const char *fmt, ...)
{
    plan_step *s;
    va_list ap;
    char *desc;
    int n;

    if (b->err)
        return;
    if (b->p->n_steps >= PLAN_MAX_STEPS) {
        b->err = lb_error_setc(LB_ETOOBIG, "plan: more than %d steps", PLAN_MAX_STEPS);
        return;
    }
    if (b->p->n_steps == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 32;
        b->p->steps = lb_realloc(b->p->steps, b->cap * sizeof(*b->p->steps));
    }
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    desc = lb_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(desc, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s = &b->p->steps[b->p->n_steps++];
    s->stage = stage;
    s->item = lb_strdup(item);
    s->action = lb_strdup(action);
    s->destructive = destructive;
    s->description = desc;
    if (item[0] != '\0')
        s->name = lb_sprintf("%s/%s", item, action);
    else
        s->name = lb_strdup(action);
}

static const char *plan__time_text(const api_restore_item *it, const char *key)
{
    const char *t = api_get_str(it->source_spec, key);
    return t != NULL ? t : "the latest restorable time";
}

/* The live instance or cluster a promote renames away: the source of a
 * point-in-time restore, the instance of latestFrom; NULL for a snapshot named
 * directly (its instance is known only once the snapshot is described). */
static const char *plan__live(const api_restore_item *it)
{
    if (it->source == API_SOURCE_RDS_SNAPSHOT)
        return api_get_str(json_object_get(it->source_spec, "latestFrom"), "dbInstanceIdentifier");
    return api_get_str(it->source_spec, it->source == API_SOURCE_RDS_CLUSTER_POINT_IN_TIME
                                            ? "sourceDBClusterIdentifier"
                                            : "sourceDBInstanceIdentifier");
}

/* pgDump into a new database (target.createDatabase): nothing live is touched. */
static bool plan__pg_copy(const api_restore_item *it)
{
    return it->source == API_SOURCE_PG_DUMP &&
           api_get_bool(json_object_get(it->source_spec, "target"), "createDatabase", false);
}

static void plan__pg_load(plan_builder *b, plan_stage stage, const api_restore_item *it,
                          bool destructive)
{
    plan__add(b, stage, it->name, "load", destructive,
              "Load the dump into %s with pg_restore or psql (%lld job(s))%s.", it->target_id,
              (long long)api_get_int(it->source_spec, "jobs", 1),
              api_get_bool(it->source_spec, "recreateDatabase", false)
                  ? ", recreating the database first"
              : plan__pg_copy(it) ? ", creating it as a new database (fails if it exists)"
                                  : "");
}

static void plan__prepare(plan_builder *b, const api_restore_item *it)
{
    const char *n = it->name;
    const char *db = api_get_str(it->spec, "database");

    switch (it->source) {
    case API_SOURCE_SECRET_VERSION:
        plan__add(b, PLAN_STAGE_PREPARE, n, "validate", false,
                  "Check that %s exists in Secrets Manager.", it->source_id);
        break;
    case API_SOURCE_RDS_POINT_IN_TIME:
    case API_SOURCE_RDS_SNAPSHOT:
    case API_SOURCE_RDS_CLUSTER_POINT_IN_TIME: {
        bool cluster = it->source == API_SOURCE_RDS_CLUSTER_POINT_IN_TIME;
        if (it->source == API_SOURCE_RDS_SNAPSHOT)
            plan__add(
                b, PLAN_STAGE_PREPARE, n, "validate", false,
                "Check that snapshot %s exists and that DB instance %s is free or already ours.",
                it->source_id, it->target_id);
        else
            plan__add(b, PLAN_STAGE_PREPARE, n, "validate", false,
                      "Check that DB %s %s exists, that %s lies in its restorable window, and that "
                      "%s is free or "
                      "already ours.",
                      cluster ? "cluster" : "instance", it->source_id,
                      plan__time_text(it, cluster ? "restoreToTime" : "restoreTime"),
                      it->target_id);
        if (cluster) {
            plan__add(b, PLAN_STAGE_PREPARE, n, "restore-cluster", false,
                      "Restore DB cluster %s to %s as the new cluster %s (tagged as Lifeboat's).",
                      it->source_id, plan__time_text(it, "restoreToTime"), it->target_id);
            plan__add(b, PLAN_STAGE_PREPARE, n, "create-writer", false,
                      "Create the writer instance %s (%s) in cluster %s.", it->writer_id,
                      api_get_str(it->source_spec, "writerInstanceClass"), it->target_id);
        } else if (it->source == API_SOURCE_RDS_SNAPSHOT) {
            plan__add(b, PLAN_STAGE_PREPARE, n, "restore", false,
                      "Restore snapshot %s into the new DB instance %s (tagged as Lifeboat's).",
                      it->source_id, it->target_id);
        } else {
            plan__add(
                b, PLAN_STAGE_PREPARE, n, "restore", false,
                "Restore DB instance %s to %s into the new DB instance %s (tagged as Lifeboat's).",
                it->source_id, plan__time_text(it, "restoreTime"), it->target_id);
        }
        plan__add(b, PLAN_STAGE_PREPARE, n, "wait-available", false,
                  "Wait until %s %s is available.", cluster ? "DB cluster" : "DB instance",
                  it->target_id);
        if (it->has_verify)
            plan__add(
                b, PLAN_STAGE_PREPARE, n, "verify", false,
                "Run %zu SQL check(s) against database %s on %s.",
                json_array_size(json_object_get(json_object_get(it->spec, "verify"), "checks")),
                db ? db : "(default)", it->target_id);
        if (it->has_migrations)
            plan__add(b, PLAN_STAGE_PREPARE, n, "migrations", false,
                      "Run the migrations Job (image %s) against the restored copy %s.",
                      api_get_str(json_object_get(it->spec, "migrations"), "image"), it->target_id);
        break;
    }
    case API_SOURCE_RDS_IN_PLACE:
        plan__add(b, PLAN_STAGE_PREPARE, n, "validate", false,
                  "Check that DB instance %s exists and that %s is available to restore from.",
                  it->target_id, it->source_id);
        break;
    case API_SOURCE_PG_DUMP:
    case API_SOURCE_REDIS_RDB:
        plan__add(b, PLAN_STAGE_PREPARE, n, "validate", false, "Check that %s exists%s.",
                  it->source_id, it->source == API_SOURCE_PG_DUMP ? " and find its manifest" : "");
        plan__add(b, PLAN_STAGE_PREPARE, n, "download", false, "Download %s to %s.", it->source_id,
                  it->source == API_SOURCE_PG_DUMP ? "the restore Job's work volume"
                                                   : "a temporary file in the pod");
        plan__add(b, PLAN_STAGE_PREPARE, n, "checksum", false,
                  "Check the sha256 of the downloaded %s before anything is written.",
                  it->source == API_SOURCE_PG_DUMP ? "dump" : "RDB file");
        if (plan__pg_copy(it)) {
            plan__pg_load(b, PLAN_STAGE_PREPARE, it, false);
            if (it->has_verify)
                plan__add(b, PLAN_STAGE_PREPARE, n, "verify", false,
                          "Run the SQL checks against the new database.");
            if (it->has_migrations)
                plan__add(b, PLAN_STAGE_PREPARE, n, "migrations", false,
                          "Run the migrations Job against the new database.");
        }
        break;
    case API_SOURCE_S3_OBJECTS:
        plan__add(
            b, PLAN_STAGE_PREPARE, n, "validate", false,
            "Check that bucket %s is versioned and that %s has the versions needed (mode %s).",
            it->target_id, it->source_id, api_get_str(it->source_spec, "mode"));
        plan__add(b, PLAN_STAGE_PREPARE, n, "diff", false,
                  "Compute which versions of %s to restore.", it->source_id);
        break;
    case API_SOURCE_FILE_ARCHIVE:
        plan__add(b, PLAN_STAGE_PREPARE, n, "validate", false,
                  "Check that %s exists and that %s is bound.", it->source_id, it->target_id);
        plan__add(b, PLAN_STAGE_PREPARE, n, "download", false,
                  "Download %s to the Job's work volume, check its sha256, decrypt and "
                  "check every entry of the archive (nothing is extracted).",
                  it->source_id);
        break;
    case API_SOURCE_JOB:
        plan__add(b, PLAN_STAGE_PREPARE, n, "validate", false,
                  "Check the Job template (%s) and that no foreign Job holds its name.",
                  it->source_id);
        if (!api_get_bool(it->source_spec, "destructive", true))
            plan__add(b, PLAN_STAGE_PREPARE, n, "run", false,
                      "Run the Job (%s) and wait for it (marked non-destructive).", it->source_id);
        break;
    case API_SOURCE_S3_SYNC:
        plan__add(b, PLAN_STAGE_PREPARE, n, "validate", false,
                  "Check that buckets %s and %s exist.", it->source_id, it->target_id);
        plan__add(b, PLAN_STAGE_PREPARE, n, "compare", false,
                  "Compare the keys and ETags of %s with %s to find what to copy.", it->source_id,
                  it->target_id);
        break;
    default:
        break;
    }
}

static void plan__scale(plan_builder *b, const api_restore_item *it, bool down)
{
    if (it->n_scale_down == 0)
        return;
    plan__add(b, PLAN_STAGE_CUTOVER, it->name, down ? "scale-down" : "scale-up", down,
              down ? "Scale %zu workload(s) to zero, starting with %s %s."
                   : "Scale %zu workload(s) back up, starting with %s %s.",
              it->n_scale_down, it->scale_down[0].kind, it->scale_down[0].name);
}

static void plan__patch_secrets(plan_builder *b, const api_restore_item *it)
{
    const json_t *first = json_array_get(json_object_get(it->spec, "secretPatches"), 0);
    if (it->n_secret_patches == 0)
        return;
    plan__add(b, PLAN_STAGE_CUTOVER, it->name, "patch-secrets", true,
              "Patch %zu Secret key(s) (first: %s/%s) to the restored %s, keeping the previous "
              "values for rollback.",
              it->n_secret_patches, api_get_str(first, "secretName"), api_get_str(first, "key"),
              it->source == API_SOURCE_SECRET_VERSION ? "secret value" : "endpoint");
}

static void plan__cutover(plan_builder *b, const api_restore_item *it)
{
    const char *n = it->name;
    bool cluster = it->source == API_SOURCE_RDS_CLUSTER_POINT_IN_TIME;

    switch (it->source) {
    case API_SOURCE_SECRET_VERSION:
        plan__add(b, PLAN_STAGE_CUTOVER, n, "make-current", true,
                  "Make %s current (stage AWSCURRENT).", it->source_id);
        plan__patch_secrets(b, it);
        break;
    case API_SOURCE_RDS_POINT_IN_TIME:
    case API_SOURCE_RDS_SNAPSHOT:
    case API_SOURCE_RDS_CLUSTER_POINT_IN_TIME: {
        const char *live = plan__live(it);
        plan__scale(b, it, true);
        if (it->promote_rename) {
            if (live != NULL)
                plan__add(b, PLAN_STAGE_CUTOVER, n, "promote", true,
                          "Rename DB %s %s to %s-old-<time>, then %s to %s, and wait until it is "
                          "available.",
                          cluster ? "cluster" : "instance", live, live, it->target_id, live);
            else
                plan__add(b, PLAN_STAGE_CUTOVER, n, "promote", true,
                          "Rename the instance the snapshot came from to <name>-old-<time>, then "
                          "%s to its name, and "
                          "wait until it is available.",
                          it->target_id);
        }
        plan__patch_secrets(b, it);
        plan__scale(b, it, false);
        break;
    }
    case API_SOURCE_RDS_IN_PLACE:
        plan__scale(b, it, true);
        plan__add(b, PLAN_STAGE_CUTOVER, n, "pre-restore-snapshot", false,
                  "Snapshot DB instance %s as %s-pre-restore-<time>.", it->target_id,
                  it->target_id);
        plan__add(b, PLAN_STAGE_CUTOVER, n, "wait-snapshot", false,
                  "Wait until the pre-restore snapshot of %s is available.", it->target_id);
        plan__add(b, PLAN_STAGE_CUTOVER, n, "delete", true,
                  "Delete DB instance %s (its snapshot was just taken).", it->target_id);
        plan__add(b, PLAN_STAGE_CUTOVER, n, "wait-deleted", false,
                  "Wait until DB instance %s is gone.", it->target_id);
        plan__add(b, PLAN_STAGE_CUTOVER, n, "restore", true,
                  "Restore %s under the original name %s.", it->source_id, it->target_id);
        plan__add(b, PLAN_STAGE_CUTOVER, n, "wait-available", false,
                  "Wait until DB instance %s is available.", it->target_id);
        if (it->has_verify)
            plan__add(b, PLAN_STAGE_CUTOVER, n, "verify", false, "Run the SQL checks against %s.",
                      it->target_id);
        if (it->has_migrations)
            plan__add(b, PLAN_STAGE_CUTOVER, n, "migrations", true,
                      "Run the migrations Job against %s.", it->target_id);
        plan__patch_secrets(b, it);
        plan__scale(b, it, false);
        break;
    case API_SOURCE_PG_DUMP:
        plan__scale(b, it, true);
        if (plan__pg_copy(it)) { /* loaded and checked in prepare */
            plan__scale(b, it, false);
            plan__patch_secrets(b, it);
            break;
        }
        plan__pg_load(b, PLAN_STAGE_CUTOVER, it, true);
        if (it->has_verify)
            plan__add(b, PLAN_STAGE_CUTOVER, n, "verify", false, "Run the SQL checks against %s.",
                      it->target_id);
        if (it->has_migrations)
            plan__add(b, PLAN_STAGE_CUTOVER, n, "migrations", true,
                      "Run the migrations Job against %s.", it->target_id);
        plan__scale(b, it, false);
        plan__patch_secrets(b, it);
        break;
    case API_SOURCE_REDIS_RDB:
        plan__add(b, PLAN_STAGE_CUTOVER, n, "install", true,
                  "Install the checked RDB file as the data of %s (as the AOF base when appendonly "
                  "is on).",
                  it->target_id);
        plan__add(b, PLAN_STAGE_CUTOVER, n, "restart", true,
                  "Restart %s and wait until it is ready.", it->target_id);
        plan__add(b, PLAN_STAGE_CUTOVER, n, "check-keys", false,
                  "Count the keys of %s with SCAN (at least %lld).", it->target_id,
                  (long long)api_get_int(json_object_get(it->source_spec, "expect"), "minKeys", 0));
        break;
    case API_SOURCE_S3_OBJECTS:
        plan__add(b, PLAN_STAGE_CUTOVER, n, "apply", true, "Restore %s (mode %s) in bucket %s.",
                  it->source_id, api_get_str(it->source_spec, "mode"), it->target_id);
        break;
    case API_SOURCE_FILE_ARCHIVE:
        plan__scale(b, it, true);
        plan__add(b, PLAN_STAGE_CUTOVER, n, "extract", true,
                  "Extract %s into %s (no absolute paths, '..' or escaping links).", it->source_id,
                  it->target_id);
        plan__scale(b, it, false);
        break;
    case API_SOURCE_JOB:
        if (api_get_bool(it->source_spec, "destructive", true))
            plan__add(b, PLAN_STAGE_CUTOVER, n, "run", true, "Run the Job (%s) and wait for it.",
                      it->source_id);
        break;
    case API_SOURCE_S3_SYNC:
        plan__add(
            b, PLAN_STAGE_CUTOVER, n, "sync", true,
            "Copy the missing and changed objects from %s to %s%s.", it->source_id, it->target_id,
            api_get_bool(it->source_spec, "deleteExtraneous", false) ? ", deleting extraneous ones"
                                                                     : "");
        plan__add(b, PLAN_STAGE_CUTOVER, n, "verify", false,
                  "Compare the key sets and ETags of %s and %s.", it->source_id, it->target_id);
        break;
    default:
        break;
    }
}

bool plan_has_destructive(const plan *p)
{
    for (size_t i = 0; i < p->n_steps; i++)
        if (p->steps[i].destructive)
            return true;
    return false;
}

/* Removes step i of p (which must exist), keeping the order of the rest. */
static void plan__drop(plan *p, size_t i)
{
    plan_step *s = &p->steps[i];
    free(s->name);
    free(s->item);
    free(s->action);
    free(s->description);
    memmove(s, s + 1, (p->n_steps - i - 1) * sizeof(*s));
    p->n_steps--;
}

int plan_build(plan **out, const api_restore_spec *spec)
{
    plan_builder b = {.p = lb_calloc(1, sizeof(plan))};
    size_t gate = 0;

    *out = NULL;
    for (size_t k = 0; k < spec->n_items; k++)
        plan__prepare(&b, &spec->items[spec->order[k]]);
    if (spec->approval_required)
        plan__add(&b, PLAN_STAGE_APPROVAL, "", "approval", false,
                  "Wait for approval: kubectl annotate rr/<name> lifeboat.dev/approve=<who>.");
    gate = b.err ? 0 : b.p->n_steps; /* the gate's index + 1 when it was added */
    for (size_t k = 0; k < spec->n_items; k++)
        plan__cutover(&b, &spec->items[spec->order[k]]);
    for (size_t r = 0; r < spec->n_rollout; r++) {
        char *action = lb_sprintf("rollout/%s/%s", spec->rollout[r].kind, spec->rollout[r].name);
        plan__add(&b, PLAN_STAGE_CUTOVER, "", action, true,
                  "Restart %s %s and wait until it is rolled out.", spec->rollout[r].kind,
                  spec->rollout[r].name);
        free(action);
        if (!b.err) {
            plan_step *s = &b.p->steps[b.p->n_steps - 1];
            free(s->action);
            s->action = lb_strdup("rollout");
        }
    }
    if (spec->has_verification)
        plan__add(&b, PLAN_STAGE_CUTOVER, "", "verification", false,
                  "Run the post-restore checklist (%zu check(s)) as a VerificationRun owned by "
                  "this request.",
                  json_array_size(
                      json_object_get(json_object_get(spec->json, "verification"), "checks")));
    for (size_t k = 0; k < spec->n_items; k++) {
        const api_restore_item *it = &spec->items[spec->order[k]];
        const char *live = plan__live(it);
        if (it->cleanup_delete_old)
            plan__add(&b, PLAN_STAGE_CLEANUP, it->name, "cleanup", true,
                      "After %s, delete the renamed-away %s %s-old-<time>%s.",
                      api_get_str(json_object_get(it->spec, "cleanup"), "after"),
                      it->source == API_SOURCE_RDS_CLUSTER_POINT_IN_TIME
                          ? "DB cluster's instances, then the DB cluster"
                          : "DB instance",
                      live != NULL ? live : "<source>",
                      api_get_bool(json_object_get(it->spec, "cleanup"), "finalSnapshot", true)
                          ? " with a final snapshot"
                          : " without a final snapshot");
    }
    if (b.err) {
        plan_free(b.p);
        return b.err;
    }
    if (spec->approval_required && !plan_has_destructive(b.p))
        plan__drop(b.p, gate - 1); /* only copies: nothing for an approver to stop */
    *out = b.p;
    return 0;
}

void plan_free(plan *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_steps; i++) {
        free(p->steps[i].name);
        free(p->steps[i].item);
        free(p->steps[i].action);
        free(p->steps[i].description);
    }
    free(p->steps);
    free(p);
}

int plan_find(const plan *p, const char *name)
{
    for (size_t i = 0; i < p->n_steps; i++)
        if (strcmp(p->steps[i].name, name) == 0)
            return (int)i;
    return -1;
}

json_t *plan_to_json(const plan *p)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < p->n_steps; i++) {
        const plan_step *s = &p->steps[i];
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:b, s:s}", "name", s->name, "item",
                                             s->item, "action", s->action, "destructive",
                                             s->destructive, "description", s->description));
    }
    return arr;
}
