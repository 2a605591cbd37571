/* restore/steps_rds.c - the RDS steps of a restore (see step.h for the contract).
 *
 * Every function describes what exists first and then acts, so a call repeated
 * after a crash at any point adopts the effect of the previous call:
 *   - a target instance/cluster that exists is adopted only when it carries
 *     this request's tag lifeboat.dev/uid; otherwise the step fails with reason
 *     TargetNotOwned and touches nothing;
 *   - names that depend on time come from persisted step start times:
 *     "<source>-old-<promote startedAt>", "<id>-pre-restore-<pre-restore-snapshot
 *     startedAt>", the final snapshot "<old>-final";
 *   - the snapshot a restore uses (dbSnapshotIdentifier, latestFrom, in place
 *     `latest: true`) is chosen once at validate and recorded in the item's
 *     output snapshotIdentifier; later steps use exactly that one.
 *
 * promote (rename), decided from which of source S, old O = "<S>-old-<ts>" and
 * target T exist (and their tags) on every call:
 *   S(original) + T, no O   phase 1: tag S lifeboat.dev/renamed-by=<uid>, rename S -> O
 *   O + T, no S             O still renaming: wait; else phase 2: rename T -> S
 *   S(ours) + O, no T       wait until S is available; done (outputs: S, endpoint, port,
 *                           replacedInstanceIdentifier O - what cleanup deletes)
 * promote_undo reverses it, ending with the restored copy back under T and the
 * original back under S:
 *   S(ours), no T           rename S -> T
 *   O(renamed by us), no S  rename O -> S
 *   S(original), no O       wait until S is available; done
 * The original keeps its renamed-by tag after an undo (harmless, and it records
 * that Lifeboat renamed it once).
 *
 * Restore times: validate fails a time before the source's creation (or a
 * cluster's EarliestRestorableTime) with RestoreTimeOutOfWindow naming the
 * window. A time after LatestRestorableTime is left to RDS, because the
 * window's end lags the last commit: when RDS answers InvalidRestoreFault for
 * a time less than RDS_ARCHIVE_LAG_SEC old, restore waits and retries every
 * RDS_WINDOW_RETRY_MS; past that, the step fails with AWS's message (which
 * names the window). Times with a fraction are sent with microseconds, so the
 * commits of the last partial second are not dropped.
 *
 * AWS errors: a non-retryable AWS error fails the step with reason = the AWS
 * code and the message "<Code>: <AWS message> (<what was being done>)";
 * throttling, timeouts, transport errors, 5xx and busy-state errors
 * (InvalidDBInstanceState...) are returned as negative codes for the engine to
 * retry. pkg/aws never re-sends a mutating call after an ambiguous failure (a
 * 5xx or a connection lost after sending: LB_EAMBIGUOUS); the step returns it
 * as transient and its next call starts, like every call, by reading the actual
 * state, so a restore, snapshot, rename or delete that AWS applied is adopted
 * (the target exists with our uid tag, the old name is gone or renaming, the
 * instance is deleting) instead of being sent again.
 *
 * Renames take time on RDS: the old name answers `renaming` (then `modifying`
 * or `rebooting`) before the new one appears. promote and its undo wait while
 * an instance they are about to rename, or one that is moving, is in such a
 * status; the second rename starts as soon as the first has landed (the old
 * name is listed under its new identifier, whatever its status). A state that
 * looks like a conflict (both names present, the restored copy missing) is read
 * again once, RDS_REREAD_MS later, before the step fails. Terminal statuses
 * (failed, incompatible-*, storage-full, restore-error, ...) fail the step at
 * once, naming the status.
 *
 * Deletes send DeleteAutomatedBackups=false unless the item's
 * cleanup.deleteAutomatedBackups is true: AWS's default would erase the
 * point-in-time history of the very database being recovered.
 *
 * Polling: STEP_WAIT requeues after a quarter of the time the step has been
 * running, between RDS_POLL_MIN_MS and STEP_POLL_MS, so fast operations (awssim
 * renames take 30-500 ms) are seen quickly and long ones (a 20-minute restore)
 * are polled every 2 s.
 *
 * Aurora (rdsClusterPointInTime): promote and its undo run the same state
 * machine on DB clusters (ModifyDBCluster NewDBClusterIdentifier); the
 * clusters' instances keep their identifiers (clients use the cluster
 * endpoint, which follows the cluster's name, and promote outputs it). Cleanup
 * deletes the old cluster's instances (no final snapshot each: the cluster's
 * covers them; they are the cluster's members, so they are owned through the
 * cluster's renamed-by tag), waits until they are gone, then DeleteDBCluster
 * with FinalDBSnapshotIdentifier "<old>-final". The per-source `region` field is not used: all
 * calls go through ctx->aws (the operator's region).
 */
#include "controller/restore/step.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/rds.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/log.h"

#define RDS_POLL_MIN_MS        250   /* fastest STEP_WAIT poll */
#define RDS_ARCHIVE_LAG_SEC    300   /* InvalidRestoreFault for a time this recent: retry */
#define RDS_MAX_WINDOW_LAG_SEC 86400 /* a window end older than this is taken as final */
#define RDS_WINDOW_RETRY_MS    5000  /* retry of a restore time RDS does not accept yet */
#define RDS_REREAD_MS          500   /* pause before the one re-read of a conflicting state */
#define RDS_ID_MAX             63    /* DB instance / cluster identifier length */
#define RDS_SNAP_ID_MAX        255   /* DB snapshot identifier length */
#define TAG_OWNER              "lifeboat.dev/owner"
#define TAG_UID                "lifeboat.dev/uid"
#define TAG_RENAMED_BY         "lifeboat.dev/renamed-by"

/* ---- small helpers --------------------------------------------------------- */

static const char *src_str(const step_ctx *ctx, const char *key)
{
    return json_string_value(json_object_get(ctx->item->source_spec, key));
}

static const char *out_str(const step_ctx *ctx, const char *key)
{
    const char *v = json_string_value(json_object_get(step_item_output(ctx), key));
    return (v != NULL && v[0] != '\0') ? v : NULL;
}

/* Poll interval: a quarter of the time this step has been running, bounded. */
static int64_t poll_ms(const step_ctx *ctx)
{
    lb_time started;
    int64_t ms;

    if (ctx->step == NULL || step_started_at(&started, ctx, ctx->step->name) != 0) {
        lb_error_clear();
        return STEP_POLL_MS;
    }
    ms = ((ctx->now.sec - started.sec) * 1000 + (ctx->now.nsec - started.nsec) / 1000000) / 4;
    if (ms < RDS_POLL_MIN_MS)
        ms = RDS_POLL_MIN_MS;
    if (ms > STEP_POLL_MS)
        ms = STEP_POLL_MS;
    return ms;
}

static int need_aws(step_result *out, const step_ctx *ctx)
{
    if (ctx->aws != NULL && ctx->item != NULL)
        return 0;
    step_failed(out, "AWSNotConfigured",
                "step %s needs AWS access, but the operator has no AWS configuration "
                "(AWS_REGION and credentials)",
                ctx->step ? ctx->step->name : "?");
    return 1;
}

/* The AWS error code at the front of an error message ("rds Action: Code: msg"),
 * copied into code; returns a pointer to "Code: msg" or NULL when the message
 * carries no AWS code (a transport or local error). */
static const char *aws_code_of(char *code, size_t size, const char *msg)
{
    const char *p = msg;
    size_t n = 0;

    if (strncmp(p, "rds ", 4) == 0) {
        const char *c = strstr(p, ": ");
        if (c == NULL)
            return NULL;
        p = c + 2;
    }
    if (*p < 'A' || *p > 'Z')
        return NULL;
    while ((p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= 'a' && p[n] <= 'z') ||
           (p[n] >= '0' && p[n] <= '9'))
        n++;
    if (p[n] != ':' || n == 0 || n >= size)
        return NULL;
    memcpy(code, p, n);
    code[n] = '\0';
    return p;
}

static bool aws_code_transient(const char *code)
{
    static const char *const transient[] = {
        "InvalidDBInstanceState",
        "InvalidDBInstanceStateFault",
        "InvalidDBSnapshotState",
        "InvalidDBSnapshotStateFault",
        "InvalidDBClusterStateFault",
        "InvalidDBClusterSnapshotStateFault",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeout",
        "OperationAborted",
    };
    for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
        if (strcmp(code, transient[i]) == 0)
            return true;
    return strncmp(code, "Http5", 5) == 0;
}

/* Turns a failed pkg/aws call into the step's answer: a non-retryable AWS
 * error fails the step (reason = the code); everything else is returned for
 * the engine to retry. */
static int aws_err(step_result *out, int rc, const char *doing)
{
    char code[STEP_MAX_REASON];
    const char *msg = lb_error_last();
    const char *p;

    if (rc == LB_ETHROTTLED || rc == LB_ETIMEOUT || rc == LB_EAMBIGUOUS)
        return lb_error_wrap(rc, "%s", doing);
    p = aws_code_of(code, sizeof(code), msg);
    if (p == NULL || aws_code_transient(code))
        return lb_error_wrap(rc, "%s", doing);
    return step_failed(out, code, "%s (%s)", p, doing);
}

/* Ownership of a resource by its tags: 1 ours (lifeboat.dev/uid matches),
 * 0 not ours, < 0 error (message set). key is TAG_UID or TAG_RENAMED_BY.
 * An RDS ARN carries the identifier, so a rename (or delete) that lands between
 * the describe that gave arn and this read answers not-found: that says nothing
 * about the owner, so it is a transient error (the caller describes again), never
 * "not ours". */
static int tagged_ours(aws_client *c, const char *arn, const char *key, const step_ctx *ctx)
{
    rds_tag_list tags;
    step_tags t;
    const char *v;
    int rc, ours;

    if (arn == NULL)
        return 0;
    step_tags_of(&t, ctx);
    rc = rds_list_tags_for_resource(&tags, c, arn);
    if (rc == LB_ENOTFOUND)
        return lb_error_setc(LB_ETIMEOUT,
                             "%s was renamed or deleted while its tags were read; describing again",
                             arn);
    if (rc != 0)
        return rc;
    v = rds_tag_list_get(&tags, key);
    ours = v != NULL && t.uid[0] != '\0' && strcmp(v, t.uid) == 0;
    rds_tag_list_dispose(&tags);
    return ours;
}

/* Describes instance id: 1 exists (*inst filled), 0 absent, < 0 error. */
static int find_instance(rds_instance *inst, aws_client *c, const char *id)
{
    int rc = rds_describe_db_instance(inst, c, id);
    if (rc == LB_ENOTFOUND) {
        lb_error_clear();
        return 0;
    }
    return rc == 0 ? 1 : rc;
}

static int find_cluster(rds_cluster *cl, aws_client *c, const char *id)
{
    int rc = rds_describe_db_cluster(cl, c, id);
    if (rc == LB_ENOTFOUND) {
        lb_error_clear();
        return 0;
    }
    return rc == 0 ? 1 : rc;
}

static int find_snapshot(rds_snapshot *snap, aws_client *c, const char *id)
{
    rds_snapshot_query q = {.snapshot_id = id};
    rds_snapshot_list l;
    int rc = rds_describe_db_snapshots(&l, NULL, c, &q);

    memset(snap, 0, sizeof(*snap));
    if (rc == LB_ENOTFOUND) {
        lb_error_clear();
        return 0;
    }
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < l.n; i++) {
        if (l.items[i].id != NULL && strcmp(l.items[i].id, id) == 0) {
            *snap = l.items[i];
            memset(&l.items[i], 0, sizeof(l.items[i]));
            rds_snapshot_list_dispose(&l);
            return 1;
        }
    }
    rds_snapshot_list_dispose(&l);
    return 0;
}

static bool status_is(const char *status, const char *want)
{
    return status != NULL && strcmp(status, want) == 0;
}

/* Instance statuses from which `available` does not come back by waiting. */
static bool status_terminal(const char *status)
{
    static const char *const bad[] = {
        "failed",
        "incompatible-restore",
        "incompatible-parameters",
        "incompatible-network",
        "incompatible-option-group",
        "storage-full",
        "restore-error",
        "inaccessible-encryption-credentials",
        "inaccessible-encryption-credentials-recoverable",
        "deleting",
        "deleted",
        "stopped",
        "stopping",
    };
    for (size_t i = 0; status != NULL && i < sizeof(bad) / sizeof(bad[0]); i++)
        if (strcmp(status, bad[i]) == 0)
            return true;
    return false;
}

/* Statuses of an instance whose identifier is moving or that is briefly
 * unavailable after a change: wait, do not act on it. */
static bool status_settling(const char *status)
{
    static const char *const busy[] = {"renaming",   "modifying",
                                       "rebooting",  "resetting-master-credentials",
                                       "backing-up", "configuring-enhanced-monitoring",
                                       "upgrading"};
    for (size_t i = 0; status != NULL && i < sizeof(busy) / sizeof(busy[0]); i++)
        if (strcmp(status, busy[i]) == 0)
            return true;
    return false;
}

/* Whether the item asks that deletes also remove automated backups. */
static bool delete_automated_backups(const step_ctx *ctx)
{
    return json_is_true(
        json_object_get(json_object_get(ctx->item->spec, "cleanup"), "deleteAutomatedBackups"));
}

/* "<base>-<suffix>" cut to max bytes by shortening base (no trailing '-'). */
static void derived_id(char *buf, size_t size, const char *base, const char *suffix, size_t max)
{
    size_t room = max - strlen(suffix) - 1, n = strlen(base);
    if (n > room)
        n = room;
    while (n > 0 && base[n - 1] == '-')
        n--;
    snprintf(buf, size, "%.*s-%s", (int)n, base, suffix);
}

/* "<item>/<action>" of this item. */
static void item_step_name(char *buf, size_t size, const step_ctx *ctx, const char *action)
{
    snprintf(buf, size, "%s/%s", ctx->item->name, action);
}

/* The name derived from a persisted start time: "<base>-<what>-<compact ts>". */
static int timed_id(char *buf, size_t size, const step_ctx *ctx, const char *action,
                    const char *base, const char *what, size_t max)
{
    char step[160], ts[16], sfx[64];
    lb_time t;

    item_step_name(step, sizeof(step), ctx, action);
    if (step_started_at(&t, ctx, step) != 0)
        return LB_ENOTFOUND;
    step_format_compact(ts, sizeof(ts), t);
    snprintf(sfx, sizeof(sfx), "%s-%s", what, ts);
    derived_id(buf, size, base, sfx, max);
    return 0;
}

/* Options of a restore from the item's source spec. vpc must hold 5 entries
 * (the CRD's maxItems). */
static void restore_options(rds_restore_options *o, const char **vpc, rds_tag *tags, step_tags *t,
                            const step_ctx *ctx, const char *target)
{
    const json_t *src = ctx->item->source_spec;
    const json_t *sgs = json_object_get(src, "vpcSecurityGroupIds");
    const json_t *pa = json_object_get(src, "publiclyAccessible");
    size_t i;
    const json_t *v;

    memset(o, 0, sizeof(*o));
    step_tags_of(t, ctx);
    tags[0] = (rds_tag){TAG_OWNER, t->owner};
    tags[1] = (rds_tag){TAG_UID, t->uid};
    o->target_id = target;
    o->instance_class = src_str(ctx, "dbInstanceClass");
    o->subnet_group = src_str(ctx, "dbSubnetGroupName");
    json_array_foreach(sgs, i, v)
    {
        if (o->nvpc_security_group_ids < 5 && json_is_string(v))
            vpc[o->nvpc_security_group_ids++] = json_string_value(v);
    }
    o->vpc_security_group_ids = o->nvpc_security_group_ids ? vpc : NULL;
    o->publicly_accessible = json_is_boolean(pa) ? json_is_true(pa) : -1;
    o->tags = tags;
    o->ntags = 2;
}

/* A restore time as RDS takes it: whole seconds, or microseconds when the
 * spec gave a fraction (as the AWS SDKs send it; truncating would drop the
 * commits of the last partial second). */
static void restore_time_text(char *buf, size_t size, lb_time t)
{
    lb_time_format(buf, size, t, t.nsec != 0 ? 6 : 0);
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* ---- snapshots: the one a restore uses ------------------------------------- */

static int snapshot_newer(const rds_snapshot *a, const rds_snapshot *b)
{
    lb_time ta = {0, 0}, tb = {0, 0};
    if (b == NULL)
        return 1;
    if (a->create_time == NULL || lb_time_parse_rfc3339(&ta, a->create_time) != 0)
        return 0;
    if (b->create_time == NULL || lb_time_parse_rfc3339(&tb, b->create_time) != 0)
        return 1;
    return ta.sec > tb.sec || (ta.sec == tb.sec && ta.nsec > tb.nsec);
}

/* Chooses the newest `available` snapshot of instance_id of type (manual |
 * automated | any/NULL). Returns 0 with *out (caller frees) and, when none is
 * available, *out NULL; < 0 on error. */
static int newest_snapshot(char **out, aws_client *c, const char *instance_id, const char *type)
{
    rds_snapshot_query q = {.instance_id = instance_id};
    rds_snapshot_list l;
    const rds_snapshot *best = NULL;
    int rc;

    *out = NULL;
    if (type != NULL && strcmp(type, "any") != 0)
        q.snapshot_type = type;
    rc = rds_describe_db_snapshots(&l, NULL, c, &q);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < l.n; i++) {
        const rds_snapshot *s = &l.items[i];
        if (s->id == NULL || !status_is(s->status, "available"))
            continue;
        if (s->instance_id != NULL && strcmp(s->instance_id, instance_id) != 0)
            continue;
        if (q.snapshot_type != NULL && s->type != NULL && strcmp(s->type, q.snapshot_type) != 0)
            continue;
        if (snapshot_newer(s, best))
            best = s;
    }
    if (best != NULL)
        *out = lb_strdup(best->id);
    rds_snapshot_list_dispose(&l);
    return 0;
}

/* Validates/chooses the snapshot of an rdsSnapshot or rdsInPlace item. On
 * success records it in out->output.snapshotIdentifier and returns 0 with
 * *ok = 1; a verdict (failed/wait) leaves *ok = 0. */
static int choose_snapshot(step_result *out, int *ok, const step_ctx *ctx)
{
    const json_t *latest_from = json_object_get(ctx->item->source_spec, "latestFrom");
    const char *given = src_str(ctx, "dbSnapshotIdentifier");
    const char *recorded = out_str(ctx, "snapshotIdentifier");
    const char *inst = NULL, *type = NULL;
    char *chosen = NULL;
    rds_snapshot snap;
    int rc;

    *ok = 0;
    if (ctx->item->source == API_SOURCE_RDS_IN_PLACE) {
        inst = src_str(ctx, "dbInstanceIdentifier");
        type = src_str(ctx, "snapshotType");
    } else if (latest_from != NULL) {
        inst = json_string_value(json_object_get(latest_from, "dbInstanceIdentifier"));
        type = json_string_value(json_object_get(latest_from, "snapshotType"));
    }
    if (given != NULL) {
        chosen = lb_strdup(given);
    } else if (recorded != NULL) {
        chosen = lb_strdup(recorded); /* chosen by an earlier call of validate */
    } else if (inst == NULL) {
        return step_failed(out, "InvalidSpec",
                           "item %s: dbSnapshotIdentifier, latestFrom or latest is required",
                           ctx->item->name);
    } else {
        rc = newest_snapshot(&chosen, ctx->aws, inst, type);
        if (rc != 0)
            return aws_err(out, rc, "listing snapshots");
        if (chosen == NULL)
            return step_failed(out, "SnapshotNotFound",
                               "no available %s snapshot of DB instance %s to restore from",
                               type ? type : "any", or_empty(inst));
    }
    rc = find_snapshot(&snap, ctx->aws, chosen);
    if (rc < 0) {
        free(chosen);
        return aws_err(out, rc, "describing the snapshot");
    }
    if (rc == 0) {
        rc = step_failed(out, "SnapshotNotFound", "DB snapshot %s not found", chosen);
    } else if (!status_is(snap.status, "available")) {
        if (status_is(snap.status, "creating"))
            rc = step_wait(out, poll_ms(ctx), "DB snapshot %s is creating", chosen);
        else
            rc = step_failed(out, "SnapshotNotAvailable", "DB snapshot %s is %s, not available",
                             chosen, or_empty(snap.status));
    } else {
        step_output_str(out, "snapshotIdentifier", chosen);
        *ok = 1;
        rc = 0;
    }
    rds_snapshot_dispose(&snap);
    free(chosen);
    return rc;
}

/* ---- target ownership ------------------------------------------------------ */

/* Checks that instance id is free or ours. Returns 0 with *state = 0 free,
 * 1 exists and ours (*inst filled when inst is not NULL), or 2 when a verdict
 * (TargetNotOwned) was written; < 0 on error. */
static int target_state(int *state, rds_instance *inst, step_result *out, const step_ctx *ctx,
                        const char *id, const char *what)
{
    rds_instance i;
    int rc = find_instance(&i, ctx->aws, id);

    *state = 0;
    if (rc < 0)
        return aws_err(out, rc, "describing the target");
    if (rc == 0)
        return 0;
    rc = tagged_ours(ctx->aws, i.arn, TAG_UID, ctx);
    if (rc < 0) {
        rds_instance_dispose(&i);
        return aws_err(out, rc, "reading the target's tags");
    }
    if (rc == 0) {
        step_tags t;
        step_tags_of(&t, ctx);
        rds_instance_dispose(&i);
        *state = 2;
        return step_failed(out, "TargetNotOwned",
                           "%s %s already exists and is not tagged %s=%s (not created by this "
                           "RestoreRequest); it was not touched",
                           what, id, TAG_UID, t.uid);
    }
    *state = 1;
    if (inst != NULL)
        *inst = i;
    else
        rds_instance_dispose(&i);
    return 0;
}

static int cluster_target_state(int *state, step_result *out, const step_ctx *ctx, const char *id)
{
    rds_cluster cl;
    int rc = find_cluster(&cl, ctx->aws, id);

    *state = 0;
    if (rc < 0)
        return aws_err(out, rc, "describing the target cluster");
    if (rc == 0)
        return 0;
    rc = tagged_ours(ctx->aws, cl.arn, TAG_UID, ctx);
    rds_cluster_dispose(&cl);
    if (rc < 0)
        return aws_err(out, rc, "reading the target cluster's tags");
    if (rc == 0) {
        step_tags t;
        step_tags_of(&t, ctx);
        *state = 2;
        return step_failed(out, "TargetNotOwned",
                           "DB cluster %s already exists and is not tagged %s=%s (not created by "
                           "this RestoreRequest); it was not touched",
                           id, TAG_UID, t.uid);
    }
    *state = 1;
    return 0;
}

/* ---- restore time window ----------------------------------------------------- */

/* Checks the restore time against [create/earliest, latest]. Returns 0 with
 * *ok = 1 when fine or unknowable; otherwise a verdict was written. */
static int check_window(step_result *out, int *ok, const step_ctx *ctx, const char *what,
                        const char *id, const char *earliest, const char *latest)
{
    char want[40];
    lb_time e, l;
    const lb_time *t = &ctx->item->restore_time;

    *ok = 1;
    if (!ctx->item->has_restore_time)
        return 0;
    restore_time_text(want, sizeof(want), *t);
    if (earliest != NULL && lb_time_parse_rfc3339(&e, earliest) == 0 && t->sec < e.sec) {
        *ok = 0;
        return step_failed(out, "RestoreTimeOutOfWindow",
                           "restore time %s is before the restorable window of %s %s [%s, %s]",
                           want, what, id, earliest, latest ? latest : "?");
    }
    /* After LatestRestorableTime: RDS decides at the restore call. The window's
     * end lags the last commit (log archiving), so a recent time is often
     * accepted a little later (the restore step retries InvalidRestoreFault
     * for RDS_ARCHIVE_LAG_SEC), and awssim accepts a time past an idle
     * instance's last commit. Only when the window's end is more than
     * RDS_MAX_WINDOW_LAG_SEC old (backups stopped) is a later time failed here. */
    if (latest != NULL && lb_time_parse_rfc3339(&l, latest) == 0 && t->sec > l.sec &&
        ctx->now.sec - l.sec > RDS_MAX_WINDOW_LAG_SEC &&
        ctx->now.sec - t->sec > RDS_ARCHIVE_LAG_SEC) {
        *ok = 0;
        return step_failed(out, "RestoreTimeOutOfWindow",
                           "restore time %s is after the restorable window of %s %s [%s, %s]", want,
                           what, id, earliest ? earliest : "?", latest);
    }
    return 0;
}

/* ---- validate ---------------------------------------------------------------- */

static int validate_instance_source(step_result *out, int *ok, const step_ctx *ctx, const char *id,
                                    bool check_time)
{
    rds_instance src;
    int rc = find_instance(&src, ctx->aws, id);

    *ok = 0;
    if (rc < 0)
        return aws_err(out, rc, "describing the source");
    if (rc == 0)
        return step_failed(out, "SourceNotFound", "source DB instance %s not found", id);
    rc = 0;
    *ok = 1;
    if (check_time)
        rc = check_window(out, ok, ctx, "DB instance", id, src.create_time,
                          src.latest_restorable_time);
    rds_instance_dispose(&src);
    return rc;
}

int rds_step_validate(step_result *out, const step_ctx *ctx)
{
    const api_restore_item *it = ctx->item;
    int ok = 0, state = 0, rc;

    if (need_aws(out, ctx))
        return 0;
    switch (it->source) {
    case API_SOURCE_RDS_POINT_IN_TIME:
        rc = validate_instance_source(out, &ok, ctx, it->source_id, true);
        if (rc != 0 || !ok)
            return rc;
        rc = target_state(&state, NULL, out, ctx, it->target_id, "target DB instance");
        if (rc != 0 || state == 2)
            return rc;
        return step_done(out, "source DB instance %s exists%s; target %s %s", it->source_id,
                         it->has_restore_time ? " and the restore time is in its window" : "",
                         it->target_id, state ? "exists and is ours (adopted)" : "is free");
    case API_SOURCE_RDS_SNAPSHOT:
        rc = choose_snapshot(out, &ok, ctx);
        if (rc != 0 || !ok)
            return rc;
        rc = target_state(&state, NULL, out, ctx, it->target_id, "target DB instance");
        if (rc != 0 || state == 2)
            return rc;
        return step_done(out, "DB snapshot %s is available; target %s %s",
                         json_string_value(json_object_get(out->output, "snapshotIdentifier")),
                         it->target_id, state ? "exists and is ours (adopted)" : "is free");
    case API_SOURCE_RDS_IN_PLACE:
        rc = validate_instance_source(out, &ok, ctx, it->target_id, false);
        if (rc != 0 || !ok)
            return rc;
        rc = choose_snapshot(out, &ok, ctx);
        if (rc != 0 || !ok)
            return rc;
        step_output_str(out, "instanceIdentifier", it->target_id);
        return step_done(out, "DB instance %s exists; it will be restored from DB snapshot %s",
                         it->target_id,
                         json_string_value(json_object_get(out->output, "snapshotIdentifier")));
    case API_SOURCE_RDS_CLUSTER_POINT_IN_TIME: {
        rds_cluster src;
        rc = find_cluster(&src, ctx->aws, it->source_id);
        if (rc < 0)
            return aws_err(out, rc, "describing the source cluster");
        if (rc == 0)
            return step_failed(out, "SourceNotFound", "source DB cluster %s not found",
                               it->source_id);
        rc = check_window(out, &ok, ctx, "DB cluster", it->source_id, src.earliest_restorable_time,
                          src.latest_restorable_time);
        rds_cluster_dispose(&src);
        if (rc != 0 || !ok)
            return rc;
        rc = cluster_target_state(&state, out, ctx, it->target_id);
        if (rc != 0 || state == 2)
            return rc;
        rc = target_state(&ok, NULL, out, ctx, it->writer_id, "writer DB instance");
        if (rc != 0 || ok == 2)
            return rc;
        return step_done(out, "source DB cluster %s exists; target cluster %s %s", it->source_id,
                         it->target_id, state ? "exists and is ours (adopted)" : "is free");
    }
    default:
        return step_failed(out, "InvalidSpec", "item %s: %s is not an RDS source", it->name,
                           api_source_field(it->source));
    }
}

/* A restore refused with InvalidRestoreFault for a time RDS_ARCHIVE_LAG_SEC
 * recent or less is retried: the window's end lags the last commit. Returns
 * 1 when a STEP_WAIT was written. */
static int window_retry(step_result *out, const step_ctx *ctx)
{
    char code[STEP_MAX_REASON], want[40];
    const char *p = aws_code_of(code, sizeof(code), lb_error_last());

    if (!ctx->item->has_restore_time || p == NULL || strcmp(code, "InvalidRestoreFault") != 0 ||
        ctx->now.sec - ctx->item->restore_time.sec >= RDS_ARCHIVE_LAG_SEC)
        return 0;
    restore_time_text(want, sizeof(want), ctx->item->restore_time);
    step_wait(out, RDS_WINDOW_RETRY_MS,
              "restore time %s is not restorable yet (%.600s); the restorable window's end lags "
              "the last commit, retrying for up to %ds after that time",
              want, p, RDS_ARCHIVE_LAG_SEC);
    return 1;
}

/* ---- restore ----------------------------------------------------------------- */

static int restored(step_result *out, const char *id, const char *how)
{
    step_output_str(out, "instanceIdentifier", id);
    return step_done(out, "%s", how);
}

/* Restores into `target` from the item's source unless it exists as ours. */
static int restore_instance(step_result *out, const step_ctx *ctx, const char *target)
{
    const api_restore_item *it = ctx->item;
    rds_restore_options o;
    const char *vpc[5];
    rds_tag tags[2];
    step_tags t;
    rds_instance inst;
    char msg[STEP_MAX_MESSAGE];
    int state = 0, rc;

    if (it->source == API_SOURCE_RDS_IN_PLACE) {
        /* the original under the same id may still be deleting */
        rc = find_instance(&inst, ctx->aws, target);
        if (rc < 0)
            return aws_err(out, rc, "describing the instance");
        if (rc == 1 && status_is(inst.status, "deleting")) {
            rds_instance_dispose(&inst);
            return step_wait(out, poll_ms(ctx), "DB instance %s is still deleting", target);
        }
        if (rc == 1)
            rds_instance_dispose(&inst);
    }
    rc = target_state(&state, NULL, out, ctx, target, "target DB instance");
    if (rc != 0 || state == 2)
        return rc;
    if (state == 1) {
        char how[160];
        snprintf(how, sizeof(how), "target DB instance %s exists and is ours (adopted)", target);
        return restored(out, target, how);
    }
    restore_options(&o, vpc, tags, &t, ctx, target);
    memset(&inst, 0, sizeof(inst));
    if (it->source == API_SOURCE_RDS_POINT_IN_TIME) {
        char when[40];
        if (it->has_restore_time)
            restore_time_text(when, sizeof(when), it->restore_time);
        rc = rds_restore_db_instance_to_point_in_time(&inst, ctx->aws, it->source_id,
                                                      it->has_restore_time ? when : NULL, &o);
        snprintf(msg, sizeof(msg), "restoring DB instance %s to %s into %s", it->source_id,
                 it->has_restore_time ? when : "its latest restorable time", target);
    } else {
        const char *snap = out_str(ctx, "snapshotIdentifier");
        if (snap == NULL)
            snap = src_str(ctx, "dbSnapshotIdentifier");
        if (snap == NULL)
            return step_failed(out, "SnapshotNotChosen",
                               "item %s has no snapshotIdentifier in its outputs; validate "
                               "chooses it",
                               it->name);
        rc = rds_restore_db_instance_from_db_snapshot(&inst, ctx->aws, snap, &o);
        snprintf(msg, sizeof(msg), "restoring DB snapshot %s into DB instance %s", snap, target);
    }
    if (rc != 0)
        return window_retry(out, ctx) ? 0 : aws_err(out, rc, msg);
    rds_instance_dispose(&inst);
    return restored(out, target, msg);
}

int rds_step_restore(step_result *out, const step_ctx *ctx)
{
    if (need_aws(out, ctx))
        return 0;
    if (ctx->item->source == API_SOURCE_RDS_IN_PLACE)
        return rds_step_restore_in_place(out, ctx);
    if (ctx->item->source != API_SOURCE_RDS_POINT_IN_TIME &&
        ctx->item->source != API_SOURCE_RDS_SNAPSHOT)
        return step_failed(out, "InvalidSpec",
                           "item %s: restore needs rdsPointInTime or "
                           "rdsSnapshot",
                           ctx->item->name);
    return restore_instance(out, ctx, ctx->item->target_id);
}

int rds_step_restore_in_place(step_result *out, const step_ctx *ctx)
{
    if (need_aws(out, ctx))
        return 0;
    return restore_instance(out, ctx, ctx->item->target_id);
}

int rds_step_restore_cluster(step_result *out, const step_ctx *ctx)
{
    const api_restore_item *it = ctx->item;
    rds_cluster_restore_options o;
    const char *vpc[5];
    rds_tag tags[2];
    step_tags t;
    rds_restore_options io;
    rds_cluster cl;
    char when[40], msg[STEP_MAX_MESSAGE];
    int state = 0, rc;

    if (need_aws(out, ctx))
        return 0;
    rc = cluster_target_state(&state, out, ctx, it->target_id);
    if (rc != 0 || state == 2)
        return rc;
    step_output_str(out, "clusterIdentifier", it->target_id);
    if (state == 1)
        return step_done(out, "target DB cluster %s exists and is ours (adopted)", it->target_id);
    restore_options(&io, vpc, tags, &t, ctx, it->target_id);
    memset(&o, 0, sizeof(o));
    o.target_id = it->target_id;
    o.subnet_group = io.subnet_group;
    o.vpc_security_group_ids = io.vpc_security_group_ids;
    o.nvpc_security_group_ids = io.nvpc_security_group_ids;
    o.tags = tags;
    o.ntags = 2;
    if (it->has_restore_time)
        restore_time_text(when, sizeof(when), it->restore_time);
    snprintf(msg, sizeof(msg), "restoring DB cluster %s to %s into %s", it->source_id,
             it->has_restore_time ? when : "its latest restorable time", it->target_id);
    rc = rds_restore_db_cluster_to_point_in_time(&cl, ctx->aws, it->source_id,
                                                 it->has_restore_time ? when : NULL, &o);
    if (rc != 0)
        return window_retry(out, ctx) ? 0 : aws_err(out, rc, msg);
    rds_cluster_dispose(&cl);
    return step_done(out, "%s", msg);
}

/* writerInstanceClass, else the class of the source cluster's writer. */
static int writer_class(char **out_class, const step_ctx *ctx)
{
    const char *given = src_str(ctx, "writerInstanceClass");
    rds_cluster src;
    int rc;

    *out_class = NULL;
    if (given != NULL) {
        *out_class = lb_strdup(given);
        return 0;
    }
    rc = find_cluster(&src, ctx->aws, ctx->item->source_id);
    if (rc <= 0)
        return rc;
    for (size_t i = 0; i < src.nmembers && *out_class == NULL; i++) {
        rds_instance w;
        if (!src.members[i].is_writer || src.members[i].instance_id == NULL)
            continue;
        rc = find_instance(&w, ctx->aws, src.members[i].instance_id);
        if (rc < 0)
            break;
        if (rc == 1 && w.instance_class != NULL)
            *out_class = lb_strdup(w.instance_class);
        if (rc == 1)
            rds_instance_dispose(&w);
        rc = 0;
    }
    rds_cluster_dispose(&src);
    return rc < 0 ? rc : 0;
}

int rds_step_create_writer(step_result *out, const step_ctx *ctx)
{
    const api_restore_item *it = ctx->item;
    rds_create_instance_options o;
    rds_tag tags[2];
    step_tags t;
    rds_cluster cl;
    rds_instance inst;
    char *cls = NULL;
    int state = 0, rc;

    if (need_aws(out, ctx))
        return 0;
    rc = target_state(&state, NULL, out, ctx, it->writer_id, "writer DB instance");
    if (rc != 0 || state == 2)
        return rc;
    step_output_str(out, "clusterIdentifier", it->target_id);
    step_output_str(out, "instanceIdentifier", it->writer_id);
    if (state == 1)
        return step_done(out, "writer DB instance %s exists and is ours (adopted)", it->writer_id);
    rc = find_cluster(&cl, ctx->aws, it->target_id);
    if (rc < 0)
        return aws_err(out, rc, "describing the restored cluster");
    if (rc == 0)
        return step_failed(out, "TargetNotFound", "restored DB cluster %s not found",
                           it->target_id);
    if (!status_is(cl.status, "available")) {
        rc =
            step_wait(out, poll_ms(ctx), "DB cluster %s is %s", it->target_id, or_empty(cl.status));
        rds_cluster_dispose(&cl);
        return rc;
    }
    rds_cluster_dispose(&cl);
    rc = writer_class(&cls, ctx);
    if (rc < 0)
        return aws_err(out, rc, "reading the source cluster's writer class");
    if (cls == NULL)
        return step_failed(out, "InvalidSpec",
                           "item %s: rdsClusterPointInTime.writerInstanceClass is not set and the "
                           "source cluster %s has no writer to copy it from",
                           it->name, it->source_id);
    step_tags_of(&t, ctx);
    tags[0] = (rds_tag){TAG_OWNER, t.owner};
    tags[1] = (rds_tag){TAG_UID, t.uid};
    memset(&o, 0, sizeof(o));
    o.id = it->writer_id;
    o.cluster_id = it->target_id;
    o.instance_class = cls;
    o.engine = src_str(ctx, "engine");
    o.tags = tags;
    o.ntags = 2;
    rc = rds_create_db_instance(&inst, ctx->aws, &o);
    if (rc != 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "creating writer %s (%s) in DB cluster %s", it->writer_id, cls,
                 it->target_id);
        free(cls);
        return aws_err(out, rc, msg);
    }
    rds_instance_dispose(&inst);
    rc = step_done(out, "creating writer DB instance %s (%s) in DB cluster %s", it->writer_id, cls,
                   it->target_id);
    free(cls);
    return rc;
}

/* ---- waits ----------------------------------------------------------------- */

/* The instance an item's wait-available watches. */
static const char *watched_instance(const step_ctx *ctx)
{
    const char *id = out_str(ctx, "instanceIdentifier");
    if (ctx->item->source == API_SOURCE_RDS_CLUSTER_POINT_IN_TIME)
        return ctx->item->writer_id;
    return id ? id : ctx->item->target_id;
}

/* Waits until instance id is available; on done outputs id, endpoint, port. */
static int wait_instance_available(step_result *out, const step_ctx *ctx, const char *id)
{
    rds_instance inst;
    int rc = find_instance(&inst, ctx->aws, id);

    if (rc < 0)
        return aws_err(out, rc, "describing the restored instance");
    if (rc == 0) /* eventual consistency right after a create: retry a few times */
        return lb_error_setc(LB_ENOTFOUND, "DB instance %s not found", id);
    if (status_is(inst.status, "available")) {
        const char *host = inst.endpoint_address;
        int port = inst.port;
        rds_cluster cl;
        memset(&cl, 0, sizeof(cl));
        if ((host == NULL || port == 0) && inst.cluster_id != NULL &&
            find_cluster(&cl, ctx->aws, inst.cluster_id) == 1) {
            host = cl.endpoint;
            port = cl.port;
        }
        lb_error_clear();
        if (host == NULL || port == 0) {
            rds_cluster_dispose(&cl);
            rds_instance_dispose(&inst);
            return step_wait(out, poll_ms(ctx), "DB instance %s is available without an endpoint",
                             id);
        }
        step_output_str(out, "instanceIdentifier", id);
        step_output_str(out, "endpoint", host);
        step_output_int(out, "port", port);
        if (inst.cluster_id != NULL)
            step_output_str(out, "clusterIdentifier", inst.cluster_id);
        rc = step_done(out, "DB instance %s is available at %s:%d", id, host, port);
        rds_cluster_dispose(&cl);
    } else if (status_terminal(inst.status)) {
        rc = step_failed(out, "InstanceNotAvailable",
                         "DB instance %s is %s; it will not become "
                         "available",
                         id, inst.status);
    } else {
        rc = step_wait(out, poll_ms(ctx), "DB instance %s is %s", id, or_empty(inst.status));
    }
    rds_instance_dispose(&inst);
    return rc;
}

int rds_step_wait_available(step_result *out, const step_ctx *ctx)
{
    if (need_aws(out, ctx))
        return 0;
    return wait_instance_available(out, ctx, watched_instance(ctx));
}

/* ---- promote: rename ------------------------------------------------------- */

/* The instance or cluster a promote renames away: the PIT source, the
 * snapshot's instance. */
static int promote_source(char *buf, size_t size, const step_ctx *ctx)
{
    const json_t *lf = json_object_get(ctx->item->source_spec, "latestFrom");
    const char *snap_id;
    rds_snapshot snap;
    int rc;

    if (ctx->item->source == API_SOURCE_RDS_POINT_IN_TIME ||
        ctx->item->source == API_SOURCE_RDS_CLUSTER_POINT_IN_TIME) {
        snprintf(buf, size, "%s", ctx->item->source_id);
        return 0;
    }
    if (lf != NULL) {
        snprintf(buf, size, "%s",
                 or_empty(json_string_value(json_object_get(lf, "dbInstanceIdentifier"))));
        return 0;
    }
    snap_id = src_str(ctx, "dbSnapshotIdentifier");
    rc = find_snapshot(&snap, ctx->aws, snap_id);
    if (rc < 0)
        return rc;
    if (rc == 1 && snap.instance_id != NULL) {
        snprintf(buf, size, "%s", snap.instance_id);
    } else {
        const char *c = strrchr(snap_id, ':');
        snprintf(buf, size, "%s", c ? c + 1 : snap_id);
    }
    rds_snapshot_dispose(&snap);
    return 0;
}

/* What promote, its undo and cleanup need of a DB instance or cluster. */
typedef struct db_view {
    char *status, *arn, *endpoint;
    int port;
    char **members; /* a cluster's instance identifiers (none for an instance) */
    size_t nmembers;
} db_view;

static void db_view_dispose(db_view *v)
{
    free(v->status);
    free(v->arn);
    free(v->endpoint);
    for (size_t i = 0; i < v->nmembers; i++)
        free(v->members[i]);
    free(v->members);
    memset(v, 0, sizeof(*v));
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? lb_strdup(s) : NULL;
}

/* Whether this item's promote and cleanup act on a DB cluster. */
static bool item_is_cluster(const step_ctx *ctx)
{
    return ctx->item->source == API_SOURCE_RDS_CLUSTER_POINT_IN_TIME;
}

static const char *db_kind(const step_ctx *ctx)
{
    return item_is_cluster(ctx) ? "DB cluster" : "DB instance";
}

/* Describes the instance or cluster (as the item acts on) `id`: 1 exists (*v
 * filled), 0 absent, < 0 error. A cluster's endpoint is its writer endpoint. */
static int find_db(db_view *v, const step_ctx *ctx, const char *id)
{
    int rc;

    memset(v, 0, sizeof(*v));
    if (item_is_cluster(ctx)) {
        rds_cluster cl;
        rc = find_cluster(&cl, ctx->aws, id);
        if (rc != 1)
            return rc;
        v->status = dup_or_null(cl.status);
        v->arn = dup_or_null(cl.arn);
        v->endpoint = dup_or_null(cl.endpoint);
        v->port = cl.port;
        if (cl.nmembers > 0) {
            v->members = lb_calloc(cl.nmembers, sizeof(*v->members));
            for (size_t i = 0; i < cl.nmembers; i++)
                if (cl.members[i].instance_id != NULL)
                    v->members[v->nmembers++] = lb_strdup(cl.members[i].instance_id);
        }
        rds_cluster_dispose(&cl);
        return 1;
    }
    rds_instance inst;
    rc = find_instance(&inst, ctx->aws, id);
    if (rc != 1)
        return rc;
    v->status = dup_or_null(inst.status);
    v->arn = dup_or_null(inst.arn);
    v->endpoint = dup_or_null(inst.endpoint_address);
    v->port = inst.port;
    rds_instance_dispose(&inst);
    return 1;
}

typedef struct promote_state {
    char src[RDS_ID_MAX + 1], old[RDS_ID_MAX + 1];
    const char *tgt;
    db_view s, o, t;
    int has_s, has_o, has_t;
    int s_ours, o_renamed_by_us, t_ours;
} promote_state;

static void promote_state_dispose(promote_state *p)
{
    db_view_dispose(&p->s);
    db_view_dispose(&p->o);
    db_view_dispose(&p->t);
}

/* Reads which of source, old and target exist and whom they belong to. A
 * verdict may be written (return 0 with out->message set and *ok 0). */
static int promote_read(promote_state *p, int *ok, step_result *out, const step_ctx *ctx)
{
    char srcbuf[RDS_ID_MAX + 1];
    const char *kind = db_kind(ctx);
    int rc;

    *ok = 0;
    memset(p, 0, sizeof(*p));
    if (!ctx->item->promote_rename)
        return step_failed(out, "InvalidSpec", "item %s: promote is not rename", ctx->item->name);
    rc = promote_source(srcbuf, sizeof(srcbuf), ctx);
    if (rc < 0)
        return aws_err(out, rc, "finding the instance to promote over");
    snprintf(p->src, sizeof(p->src), "%s", srcbuf);
    if (timed_id(p->old, sizeof(p->old), ctx, "promote", p->src, "old", RDS_ID_MAX) != 0)
        return step_failed(out, "StepNotStarted",
                           "step %s/promote has no startedAt to name the old %s", ctx->item->name,
                           item_is_cluster(ctx) ? "cluster" : "instance");
    lb_error_clear();
    p->tgt = ctx->item->target_id;
    if ((rc = find_db(&p->s, ctx, p->src)) < 0)
        goto err;
    p->has_s = rc;
    if ((rc = find_db(&p->o, ctx, p->old)) < 0)
        goto err;
    p->has_o = rc;
    if ((rc = find_db(&p->t, ctx, p->tgt)) < 0)
        goto err;
    p->has_t = rc;
    if (p->has_s && (rc = p->s_ours = tagged_ours(ctx->aws, p->s.arn, TAG_UID, ctx)) < 0)
        goto err;
    if (p->has_o &&
        (rc = p->o_renamed_by_us = tagged_ours(ctx->aws, p->o.arn, TAG_RENAMED_BY, ctx)) < 0)
        goto err;
    if (p->has_t && (rc = p->t_ours = tagged_ours(ctx->aws, p->t.arn, TAG_UID, ctx)) < 0)
        goto err;
    if (p->has_o && !p->o_renamed_by_us) {
        step_tags t;
        step_tags_of(&t, ctx);
        return step_failed(out, "TargetNotOwned",
                           "%s %s exists and is not tagged %s=%s; it was not touched", kind, p->old,
                           TAG_RENAMED_BY, t.uid);
    }
    if (p->has_t && !p->t_ours) {
        step_tags t;
        step_tags_of(&t, ctx);
        return step_failed(out, "TargetNotOwned",
                           "%s %s exists and is not tagged %s=%s; it was not touched", kind, p->tgt,
                           TAG_UID, t.uid);
    }
    *ok = 1;
    return 0;
err:
    return aws_err(out, rc,
                   item_is_cluster(ctx) ? "describing the clusters to rename"
                                        : "describing the instances to rename");
}

static int rename_db(step_result *out, const step_ctx *ctx, const char *from, const char *to,
                     const char *why)
{
    char msg[256];
    int rc;

    snprintf(msg, sizeof(msg), "renaming %s %s to %s", db_kind(ctx), from, to);
    if (item_is_cluster(ctx)) {
        rds_cluster r;
        rc = rds_modify_db_cluster_rename(&r, ctx->aws, from, to);
        if (rc == 0)
            rds_cluster_dispose(&r);
    } else {
        rds_instance r;
        rc = rds_modify_db_instance_rename(&r, ctx->aws, from, to);
        if (rc == 0)
            rds_instance_dispose(&r);
    }
    if (rc != 0)
        return aws_err(out, rc, msg);
    return step_wait(out, poll_ms(ctx), "%s (%s)", msg, why);
}

/* Fails the step when `id` (`what`) is in a terminal status; 1 when a verdict
 * was written. */
static int terminal(step_result *out, const char *what, const char *id, const db_view *i)
{
    if (!status_terminal(i->status))
        return 0;
    step_failed(out, "InstanceNotAvailable", "%s %s is %s; it will not become available", what, id,
                i->status);
    return 1;
}

/* Waits while `id` is not available; 1 when a verdict was written. */
static int not_ready(step_result *out, const step_ctx *ctx, const char *what, const char *id,
                     const db_view *i)
{
    if (terminal(out, what, id, i))
        return 1;
    if (status_is(i->status, "available"))
        return 0;
    step_wait(out, poll_ms(ctx), "%s %s is %s%s", what, id, or_empty(i->status),
              status_settling(i->status) ? " (waiting for it to settle)" : "");
    return 1;
}

/* The outputs of a promote that landed: the restored copy answers as `id`,
 * the original is `old` (what cleanup deletes). */
static void promote_outputs(step_result *out, const step_ctx *ctx, const char *id, const char *old,
                            const db_view *v)
{
    bool cluster = item_is_cluster(ctx);
    step_output_str(out, cluster ? "clusterIdentifier" : "instanceIdentifier", id);
    step_output_str(out, cluster ? "replacedClusterIdentifier" : "replacedInstanceIdentifier", old);
    step_output_str(out, "endpoint", or_empty(v->endpoint));
    step_output_int(out, "port", v->port);
}

/* One decision of the forward promote from a state read by promote_read. */
static int promote_decide(step_result *out, const step_ctx *ctx, promote_state *p)
{
    const char *kind = db_kind(ctx);
    char restored[40];

    snprintf(restored, sizeof(restored), "restored %s", kind);
    if (p->has_s && p->s_ours) {
        /* phase 2 landed: the restored copy answers under the source name */
        if (p->has_t)
            return step_failed(out, "PromoteConflict",
                               "%s %s (ours) and %s both exist; expected the target to "
                               "have been renamed",
                               kind, p->src, p->tgt);
        if (not_ready(out, ctx, kind, p->src, &p->s))
            return 0;
        if (item_is_cluster(ctx) && (p->s.endpoint == NULL || p->s.port == 0))
            return step_wait(out, poll_ms(ctx), "%s %s is available without an endpoint yet", kind,
                             p->src);
        promote_outputs(out, ctx, p->src, p->old, &p->s);
        return step_done(out, "restored copy promoted: %s now answers as %s; the original is %s",
                         p->tgt, p->src, p->old);
    }
    if (!p->has_t)
        return step_failed(out, "TargetNotFound", "%s %s not found (source %s %s, old %s %s)",
                           restored, p->tgt, p->src, p->has_s ? "exists" : "absent", p->old,
                           p->has_o ? "exists" : "absent");
    if (terminal(out, restored, p->tgt, &p->t))
        return 0;
    if (p->has_s && p->has_o)
        return step_failed(out, "PromoteConflict",
                           "%ss %s and %s both exist; refusing to rename over either", kind, p->src,
                           p->old);
    if (p->has_s) {
        /* phase 1: move the original out of the way, tagged so undo/cleanup know it.
         * While it is renaming (our earlier rename, still under its old name) wait. */
        step_tags t;
        rds_tag tag;
        int rc;
        if (not_ready(out, ctx, kind, p->src, &p->s) ||
            not_ready(out, ctx, restored, p->tgt, &p->t))
            return 0;
        step_tags_of(&t, ctx);
        tag = (rds_tag){TAG_RENAMED_BY, t.uid};
        rc = rds_add_tags_to_resource(ctx->aws, p->s.arn, &tag, 1);
        if (rc != 0)
            return aws_err(out, rc, "tagging the source before renaming it");
        return rename_db(out, ctx, p->src, p->old, "phase 1 of 2");
    }
    if (p->has_o) {
        /* phase 1 landed (the source name is free, whatever the old one's status):
         * start phase 2 as soon as the restored copy can be renamed. */
        if (not_ready(out, ctx, restored, p->tgt, &p->t))
            return 0;
        return rename_db(out, ctx, p->tgt, p->src, "phase 2 of 2");
    }
    return step_failed(out, "SourceNotFound",
                       "neither %s %s nor %s exists; nothing to promote over", kind, p->src,
                       p->old);
}

/* One decision of the undo of promote. */
static int promote_undo_decide(step_result *out, const step_ctx *ctx, promote_state *p)
{
    const char *kind = db_kind(ctx);

    if (p->has_s && p->s_ours) {
        if (p->has_t)
            return step_failed(out, "PromoteConflict", "cannot rename %s back to %s: %s exists",
                               p->src, p->tgt, p->tgt);
        if (not_ready(out, ctx, kind, p->src, &p->s))
            return 0;
        return rename_db(out, ctx, p->src, p->tgt, "undo 1 of 2");
    }
    if (!p->has_s && p->has_o) {
        /* undo 1 landed (or phase 2 never ran): the source name is free */
        if (not_ready(out, ctx, kind, p->old, &p->o))
            return 0;
        return rename_db(out, ctx, p->old, p->src, "undo 2 of 2");
    }
    if (p->has_s && !p->has_o) {
        if (not_ready(out, ctx, kind, p->src, &p->s))
            return 0;
        step_output_str(out, item_is_cluster(ctx) ? "clusterIdentifier" : "instanceIdentifier",
                        p->tgt);
        if (p->has_t && p->t.endpoint != NULL) {
            step_output_str(out, "endpoint", p->t.endpoint);
            step_output_int(out, "port", p->t.port);
        }
        return step_done(out, "%s %s is the original again; the restored copy is %s", kind, p->src,
                         p->has_t ? p->tgt : "gone");
    }
    if (p->has_s && p->has_o)
        return step_failed(out, "PromoteConflict",
                           "%ss %s and %s both exist; refusing to rename over either", kind, p->src,
                           p->old);
    return step_failed(out, "SourceNotFound", "neither %s %s nor %s exists", kind, p->src, p->old);
}

/* Verdicts that may come from reading the three names in separate calls while
 * a rename lands between them: worth one more look. */
static bool promote_conflict(const step_result *out)
{
    return out->verdict == STEP_FAILED && (strcmp(out->reason, "PromoteConflict") == 0 ||
                                           strcmp(out->reason, "TargetNotFound") == 0 ||
                                           strcmp(out->reason, "SourceNotFound") == 0);
}

static void pause_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int promote_run(step_result *out, const step_ctx *ctx, bool undo)
{
    for (int pass = 0;; pass++) {
        promote_state p;
        int ok = 0, rc;

        rc = promote_read(&p, &ok, out, ctx);
        if (rc == 0 && ok)
            rc = undo ? promote_undo_decide(out, ctx, &p) : promote_decide(out, ctx, &p);
        promote_state_dispose(&p);
        if (rc != 0 || pass > 0 || !promote_conflict(out))
            return rc;
        LB_LOG_INFO("promote: state looks conflicting, reading it again", "step",
                    ctx->step ? ctx->step->name : "?", "reason", out->reason);
        json_decref(out->output);
        memset(out, 0, sizeof(*out));
        pause_ms(RDS_REREAD_MS);
    }
}

int rds_step_promote(step_result *out, const step_ctx *ctx)
{
    if (need_aws(out, ctx))
        return 0;
    return promote_run(out, ctx, false);
}

int rds_step_promote_undo(step_result *out, const step_ctx *ctx)
{
    if (need_aws(out, ctx))
        return 0;
    return promote_run(out, ctx, true);
}

/* ---- in place: pre-restore snapshot, delete --------------------------------- */

static int pre_restore_id(char *buf, size_t size, step_result *out, const step_ctx *ctx)
{
    if (timed_id(buf, size, ctx, "pre-restore-snapshot", ctx->item->target_id, "pre-restore",
                 RDS_ID_MAX) != 0) {
        lb_error_clear();
        step_failed(out, "StepNotStarted",
                    "step %s/pre-restore-snapshot has no startedAt to name the snapshot",
                    ctx->item->name);
        return 1;
    }
    return 0;
}

int rds_step_pre_restore_snapshot(step_result *out, const step_ctx *ctx)
{
    const char *id = ctx->item->target_id;
    char snap_id[RDS_SNAP_ID_MAX + 1];
    rds_snapshot snap;
    rds_instance inst;
    rds_tag tags[2];
    step_tags t;
    int rc;

    if (need_aws(out, ctx) || pre_restore_id(snap_id, sizeof(snap_id), out, ctx))
        return 0;
    rc = find_snapshot(&snap, ctx->aws, snap_id);
    if (rc < 0)
        return aws_err(out, rc, "describing the pre-restore snapshot");
    if (rc == 1) {
        rds_snapshot_dispose(&snap);
        return step_done(out, "pre-restore snapshot %s of %s exists", snap_id, id);
    }
    rc = find_instance(&inst, ctx->aws, id);
    if (rc < 0)
        return aws_err(out, rc, "describing the instance");
    if (rc == 0)
        return step_failed(out, "SourceNotFound",
                           "DB instance %s not found; no pre-restore snapshot was taken", id);
    if (!status_is(inst.status, "available")) {
        rc = step_wait(out, poll_ms(ctx), "DB instance %s is %s; the snapshot needs it available",
                       id, or_empty(inst.status));
        rds_instance_dispose(&inst);
        return rc;
    }
    rds_instance_dispose(&inst);
    step_tags_of(&t, ctx);
    tags[0] = (rds_tag){TAG_OWNER, t.owner};
    tags[1] = (rds_tag){TAG_UID, t.uid};
    rc = rds_create_db_snapshot(&snap, ctx->aws, id, snap_id, tags, 2);
    if (rc != 0)
        return aws_err(out, rc, "creating the pre-restore snapshot");
    rds_snapshot_dispose(&snap);
    return step_done(out, "creating pre-restore snapshot %s of %s", snap_id, id);
}

int rds_step_wait_snapshot(step_result *out, const step_ctx *ctx)
{
    char snap_id[RDS_SNAP_ID_MAX + 1];
    rds_snapshot snap;
    int rc;

    if (need_aws(out, ctx) || pre_restore_id(snap_id, sizeof(snap_id), out, ctx))
        return 0;
    rc = find_snapshot(&snap, ctx->aws, snap_id);
    if (rc < 0)
        return aws_err(out, rc, "describing the pre-restore snapshot");
    if (rc == 0)
        return lb_error_setc(LB_ENOTFOUND, "DB snapshot %s not found", snap_id);
    if (status_is(snap.status, "available"))
        rc = step_done(out, "pre-restore snapshot %s is available", snap_id);
    else if (status_is(snap.status, "creating"))
        rc = step_wait(out, poll_ms(ctx), "DB snapshot %s is creating", snap_id);
    else
        rc = step_failed(out, "SnapshotNotAvailable", "DB snapshot %s is %s", snap_id,
                         or_empty(snap.status));
    rds_snapshot_dispose(&snap);
    return rc;
}

int rds_step_delete(step_result *out, const step_ctx *ctx)
{
    const char *id = ctx->item->target_id;
    char snap_id[RDS_SNAP_ID_MAX + 1];
    rds_snapshot snap;
    rds_instance inst, del;
    int rc, ours;

    if (need_aws(out, ctx) || pre_restore_id(snap_id, sizeof(snap_id), out, ctx))
        return 0;
    rc = find_instance(&inst, ctx->aws, id);
    if (rc < 0)
        return aws_err(out, rc, "describing the instance");
    if (rc == 0)
        return step_done(out, "DB instance %s is already gone", id);
    if (status_is(inst.status, "deleting")) {
        rds_instance_dispose(&inst);
        return step_done(out, "DB instance %s is deleting", id);
    }
    ours = tagged_ours(ctx->aws, inst.arn, TAG_UID, ctx);
    rds_instance_dispose(&inst);
    if (ours < 0)
        return aws_err(out, ours, "reading the instance's tags");
    if (ours == 1) /* already restored by this request: never delete it */
        return step_done(out, "DB instance %s is already the restored copy", id);
    /* The pre-restore snapshot is the safety copy: it must be available. */
    rc = find_snapshot(&snap, ctx->aws, snap_id);
    if (rc < 0)
        return aws_err(out, rc, "describing the pre-restore snapshot");
    if (rc == 0 || !status_is(snap.status, "available")) {
        step_failed(out, "SnapshotNotAvailable",
                    "pre-restore snapshot %s is %s; DB instance %s was not deleted", snap_id,
                    rc == 0 ? "missing" : or_empty(snap.status), id);
        rds_snapshot_dispose(&snap);
        return 0;
    }
    rds_snapshot_dispose(&snap);
    rc = rds_delete_db_instance(&del, ctx->aws, id, NULL, delete_automated_backups(ctx));
    if (rc != 0)
        return aws_err(out, rc, "deleting the instance");
    rds_instance_dispose(&del);
    return step_done(out, "deleting DB instance %s (pre-restore snapshot %s kept)", id, snap_id);
}

int rds_step_wait_deleted(step_result *out, const step_ctx *ctx)
{
    const char *id = ctx->item->target_id;
    rds_instance inst;
    int rc, ours;

    if (need_aws(out, ctx))
        return 0;
    rc = find_instance(&inst, ctx->aws, id);
    if (rc < 0)
        return aws_err(out, rc, "describing the instance");
    if (rc == 0)
        return step_done(out, "DB instance %s is gone", id);
    ours = tagged_ours(ctx->aws, inst.arn, TAG_UID, ctx);
    if (ours < 0) {
        rds_instance_dispose(&inst);
        return aws_err(out, ours, "reading the instance's tags");
    }
    if (ours == 1)
        rc = step_done(out, "DB instance %s is already the restored copy", id);
    else
        rc = step_wait(out, poll_ms(ctx), "DB instance %s is %s", id, or_empty(inst.status));
    rds_instance_dispose(&inst);
    return rc;
}

/* ---- cleanup --------------------------------------------------------------- */

/* finishedAt of this item's promote step. */
static int promote_finished_at(lb_time *out, const step_ctx *ctx)
{
    char name[160];
    const json_t *steps = json_object_get(ctx->status, "steps");
    size_t i;
    const json_t *s;

    item_step_name(name, sizeof(name), ctx, "promote");
    json_array_foreach(steps, i, s)
    {
        const char *n = json_string_value(json_object_get(s, "name"));
        const char *at = json_string_value(json_object_get(s, "finishedAt"));
        if (n != NULL && strcmp(n, name) == 0 && at != NULL && at[0] != '\0')
            return lb_time_parse_rfc3339(out, at) == 0 ? 0 : LB_EINVALID;
    }
    return LB_ENOTFOUND;
}

/* Deletes the members of old cluster `old` that are not deleting yet; sets
 * *left to how many members remain. */
static int delete_cluster_members(step_result *out, const step_ctx *ctx, const db_view *v,
                                  size_t *left)
{
    *left = 0;
    for (size_t i = 0; i < v->nmembers; i++) {
        rds_instance inst, del;
        char msg[160];
        int rc = find_instance(&inst, ctx->aws, v->members[i]);
        if (rc < 0)
            return aws_err(out, rc, "describing a member of the old cluster");
        if (rc == 0)
            continue;
        (*left)++;
        if (status_is(inst.status, "deleting")) {
            rds_instance_dispose(&inst);
            continue;
        }
        rds_instance_dispose(&inst);
        /* a cluster member takes no final snapshot: the cluster's covers it */
        rc = rds_delete_db_instance(&del, ctx->aws, v->members[i], NULL,
                                    delete_automated_backups(ctx));
        snprintf(msg, sizeof(msg), "deleting instance %s of the old cluster", v->members[i]);
        if (rc != 0)
            return aws_err(out, rc, msg);
        rds_instance_dispose(&del);
        LB_LOG_INFO("cleanup: deleting a member of the old cluster", "instance", v->members[i]);
    }
    return 0;
}

/* Cleanup of a renamed-away cluster `old`: its instances first, then the
 * cluster, with a final cluster snapshot `final_id` unless it is NULL. */
static int cleanup_cluster(step_result *out, const step_ctx *ctx, const char *old,
                           const char *final_id)
{
    const char *fin = final_id != NULL ? final_id : "";
    const char *with = final_id != NULL ? "; final snapshot " : "";
    db_view v;
    size_t left = 0;
    rds_cluster del;
    int rc = find_db(&v, ctx, old), ours;

    if (rc < 0)
        return aws_err(out, rc, "describing the old cluster");
    if (rc == 0)
        return step_done(out, "old DB cluster %s is gone%s%s", old, with, fin);
    if (status_is(v.status, "deleting")) {
        db_view_dispose(&v);
        return step_done(out, "old DB cluster %s is deleting%s%s", old, with, fin);
    }
    ours = tagged_ours(ctx->aws, v.arn, TAG_RENAMED_BY, ctx);
    if (ours != 1) {
        step_tags t;
        db_view_dispose(&v);
        if (ours < 0)
            return aws_err(out, ours, "reading the old cluster's tags");
        step_tags_of(&t, ctx);
        json_decref(out->output);
        out->output = NULL;
        return step_failed(out, "TargetNotOwned",
                           "DB cluster %s is not tagged %s=%s; it was not deleted", old,
                           TAG_RENAMED_BY, t.uid);
    }
    rc = delete_cluster_members(out, ctx, &v, &left);
    db_view_dispose(&v);
    if (rc != 0 || out->verdict == STEP_FAILED)
        return rc;
    if (left > 0)
        return step_wait(out, poll_ms(ctx),
                         "deleting the %zu instance(s) of old DB cluster %s before the cluster",
                         left, old);
    rc = rds_delete_db_cluster(&del, ctx->aws, old, final_id, delete_automated_backups(ctx));
    if (rc != 0)
        return aws_err(out, rc, "deleting the old cluster");
    rds_cluster_dispose(&del);
    return step_done(out, "deleting old DB cluster %s%s%s", old,
                     final_id != NULL ? " with final snapshot " : " without a final snapshot", fin);
}

int rds_step_cleanup(step_result *out, const step_ctx *ctx)
{
    const api_restore_item *it = ctx->item;
    const json_t *cleanup = json_object_get(it->spec, "cleanup");
    const json_t *fs = json_object_get(cleanup, "finalSnapshot");
    bool final = !json_is_false(fs);
    char src[RDS_ID_MAX + 1], old[RDS_ID_MAX + 1], final_id[RDS_SNAP_ID_MAX + 1];
    lb_time done_at;
    int64_t due_ms;
    rds_instance inst, del;
    int rc, ours;

    if (need_aws(out, ctx))
        return 0;
    if (promote_finished_at(&done_at, ctx) != 0)
        return step_failed(
            out, "StepNotFinished",
            "step %s/promote has no finishedAt; cleanup counts cleanup.after from it", it->name);
    due_ms = (done_at.sec + it->cleanup_after_sec - ctx->now.sec) * 1000 +
             (done_at.nsec - ctx->now.nsec) / 1000000;
    if (due_ms > 0) {
        char at[40];
        lb_time due = {done_at.sec + it->cleanup_after_sec, done_at.nsec};
        lb_time_format(at, sizeof(at), due, 0);
        return step_wait(out, due_ms,
                         "waiting until %s (cleanup.after %llds after the promote) "
                         "to delete the old instance",
                         at, (long long)it->cleanup_after_sec);
    }
    if (out_str(ctx, "replacedInstanceIdentifier") != NULL ||
        out_str(ctx, "replacedClusterIdentifier") != NULL) {
        /* what promote recorded: no snapshot lookup, which fails once the snapshot is gone */
        snprintf(old, sizeof(old), "%s",
                 item_is_cluster(ctx) ? out_str(ctx, "replacedClusterIdentifier")
                                      : out_str(ctx, "replacedInstanceIdentifier"));
    } else {
        rc = promote_source(src, sizeof(src), ctx);
        if (rc < 0)
            return aws_err(out, rc, "finding the promoted source");
        if (timed_id(old, sizeof(old), ctx, "promote", src, "old", RDS_ID_MAX) != 0)
            return step_failed(out, "StepNotStarted", "step %s/promote has no startedAt", it->name);
    }
    derived_id(final_id, sizeof(final_id), old, "final", RDS_SNAP_ID_MAX);
    if (final)
        step_output_str(out, "snapshotIdentifier", final_id);
    if (item_is_cluster(ctx))
        return cleanup_cluster(out, ctx, old, final ? final_id : NULL);
    rc = find_instance(&inst, ctx->aws, old);
    if (rc < 0)
        return aws_err(out, rc, "describing the old instance");
    if (rc == 0)
        return step_done(out, "old DB instance %s is gone%s%s", old,
                         final ? "; final snapshot " : "", final ? final_id : "");
    if (status_is(inst.status, "deleting")) {
        rds_instance_dispose(&inst);
        return step_done(out, "old DB instance %s is deleting%s%s", old,
                         final ? "; final snapshot " : "", final ? final_id : "");
    }
    ours = tagged_ours(ctx->aws, inst.arn, TAG_RENAMED_BY, ctx);
    rds_instance_dispose(&inst);
    if (ours < 0)
        return aws_err(out, ours, "reading the old instance's tags");
    if (ours == 0) {
        step_tags t;
        step_tags_of(&t, ctx);
        json_decref(out->output);
        out->output = NULL;
        return step_failed(out, "TargetNotOwned",
                           "DB instance %s is not tagged %s=%s; it was not deleted", old,
                           TAG_RENAMED_BY, t.uid);
    }
    rc = rds_delete_db_instance(&del, ctx->aws, old, final ? final_id : NULL,
                                delete_automated_backups(ctx));
    if (rc != 0)
        return aws_err(out, rc, "deleting the old instance");
    rds_instance_dispose(&del);
    return step_done(out, "deleting old DB instance %s%s%s", old,
                     final ? " with final snapshot " : " without a final snapshot",
                     final ? final_id : "");
}
