/* steps_secrets.c - secretVersion items (runbook 000 4A): make a previous
 * Secrets Manager version current again by moving the AWSCURRENT stage.
 *
 * validate      finds the version to restore (versionId, else the stage
 *               versionStage, default AWSPREVIOUS) and the version holding
 *               AWSCURRENT now, and records both ids in the item's
 *               status.outputs entry (versionId, previousVersionId). A re-run
 *               adopts the recorded ids (after the cutover AWSPREVIOUS names
 *               the bad version, so it must not be resolved again).
 * make-current  UpdateSecretVersionStage(AWSCURRENT, move to versionId, remove
 *               from previousVersionId); Secrets Manager then puts AWSPREVIOUS
 *               on the bad version, so it stays reachable and the move can be
 *               undone. No new version is written: the version history the
 *               runbook relies on is kept. Already current -> done. After an
 *               ambiguous failure (LB_EAMBIGUOUS) it re-lists the versions and
 *               adopts a move that did land, instead of sending it again.
 * undo          moves AWSCURRENT back to previousVersionId, same rules.
 *
 * The secret value is never read here (patch-secrets reads it); messages
 * carry version ids and stages only.
 */
#include <string.h>

#include "aws/secretsmanager.h"
#include "controller/restore/step.h"
#include "util/error.h"

#define STAGE_CURRENT "AWSCURRENT"

static int has_stage(const sm_version *v, const char *stage)
{
    for (size_t i = 0; i < v->nstages; i++)
        if (v->stages[i] != NULL && strcmp(v->stages[i], stage) == 0)
            return 1;
    return 0;
}

static const sm_version *find_stage(const sm_version_list *l, const char *stage)
{
    for (size_t i = 0; i < l->n; i++)
        if (has_stage(&l->items[i], stage))
            return &l->items[i];
    return NULL;
}

static const sm_version *find_id(const sm_version_list *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].version_id != NULL && strcmp(l->items[i].version_id, id) == 0)
            return &l->items[i];
    return NULL;
}

static const char *secret_id(const step_ctx *ctx)
{
    return json_string_value(json_object_get(ctx->item->source_spec, "secretId"));
}

/* Lists the versions. Returns 0, 1 when the step failed (out filled), or a
 * negative transient code. */
static int list_versions(sm_version_list *l, step_result *out, const step_ctx *ctx)
{
    const char *sid = secret_id(ctx);
    int rc;

    memset(l, 0, sizeof(*l));
    if (ctx->aws == NULL) {
        step_failed(out, "NoAWSConfiguration", "item %s: secretVersion needs AWS access",
                    ctx->item->name);
        return 1;
    }
    rc = sm_list_secret_version_ids(l, ctx->aws, sid);
    if (rc == LB_ENOTFOUND) {
        step_failed(out, "SecretNotFound", "item %s: secret %s not found in Secrets Manager: %s",
                    ctx->item->name, sid, lb_error_last());
        return 1;
    }
    if (rc == LB_EINVALID) {
        step_failed(out, "InvalidParameter", "item %s: ListSecretVersionIds %s: %s",
                    ctx->item->name, sid, lb_error_last());
        return 1;
    }
    if (rc != 0)
        return lb_error_wrap(rc, "ListSecretVersionIds %s", sid);
    return 0;
}

int secret_step_validate(step_result *out, const step_ctx *ctx)
{
    const json_t *o = step_item_output(ctx);
    const char *want_id = json_string_value(json_object_get(ctx->item->source_spec, "versionId"));
    const char *stage = json_string_value(json_object_get(ctx->item->source_spec, "versionStage"));
    const char *rec_id = json_string_value(json_object_get(o, "versionId"));
    const char *rec_prev = json_string_value(json_object_get(o, "previousVersionId"));
    const sm_version *target, *cur;
    sm_version_list l;
    int rc;

    if (stage == NULL)
        stage = "AWSPREVIOUS";
    rc = list_versions(&l, out, ctx);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    cur = find_stage(&l, STAGE_CURRENT);
    if (rec_id != NULL && rec_prev != NULL) {
        /* adopt what an earlier run of this step recorded */
        if (find_id(&l, rec_id) == NULL || find_id(&l, rec_prev) == NULL) {
            rc = step_failed(out, "VersionNotFound",
                             "secret %s: recorded version %s or %s no longer exists",
                             secret_id(ctx), rec_id, rec_prev);
            goto done;
        }
        rc = step_done(out, "secret %s: will make version %s current (AWSCURRENT now on %s)",
                       secret_id(ctx), rec_id, rec_prev);
        goto done;
    }
    if (cur == NULL) {
        rc = step_failed(out, "VersionNotFound", "secret %s: no version holds AWSCURRENT",
                         secret_id(ctx));
        goto done;
    }
    target = want_id != NULL ? find_id(&l, want_id) : find_stage(&l, stage);
    if (target == NULL) {
        if (want_id != NULL)
            rc =
                step_failed(out, "VersionNotFound",
                            "secret %s has no version %s (spec.items[%zu].secretVersion.versionId)",
                            secret_id(ctx), want_id, ctx->item->index);
        else
            rc = step_failed(out, "VersionNotFound",
                             "secret %s has no version with stage %s "
                             "(spec.items[%zu].secretVersion.versionStage)",
                             secret_id(ctx), stage, ctx->item->index);
        goto done;
    }
    step_output_str(out, "versionId", target->version_id);
    step_output_str(out, "previousVersionId", cur->version_id);
    if (target == cur)
        rc = step_done(out, "secret %s: version %s%s%s is already AWSCURRENT; nothing to move",
                       secret_id(ctx), target->version_id, want_id ? "" : " stage ",
                       want_id ? "" : stage);
    else
        rc = step_done(out,
                       "secret %s: will make version %s (%s) current; AWSCURRENT now on %s, "
                       "which becomes AWSPREVIOUS",
                       secret_id(ctx), target->version_id, want_id ? "versionId" : stage,
                       cur->version_id);
done:
    sm_version_list_dispose(&l);
    return rc;
}

/* Moves AWSCURRENT to `to`; `from` is the only other version allowed to hold
 * it. Re-reads first; after an ambiguous failure re-reads again and adopts. */
static int move_current(step_result *out, const step_ctx *ctx, const char *to, const char *from,
                        const char *what)
{
    const char *sid = secret_id(ctx);
    const sm_version *cur;
    sm_version_list l;
    int rc;

    if (to == NULL || from == NULL)
        return step_failed(out, "NotValidated",
                           "item %s: no versionId/previousVersionId in status.outputs (validate "
                           "has not recorded them)",
                           ctx->item->name);
    rc = list_versions(&l, out, ctx);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    cur = find_stage(&l, STAGE_CURRENT);
    if (cur != NULL && strcmp(cur->version_id, to) == 0) {
        rc = step_done(out, "secret %s: version %s is AWSCURRENT (%s)", sid, to, what);
        goto done;
    }
    if (cur == NULL || strcmp(cur->version_id, from) != 0) {
        rc = step_failed(out, "SecretChanged",
                         "secret %s: AWSCURRENT is on %s, neither %s nor %s; it was changed by "
                         "someone else, not moving it",
                         sid, cur ? cur->version_id : "no version", to, from);
        goto done;
    }
    rc = sm_update_secret_version_stage(ctx->aws, sid, STAGE_CURRENT, to, from);
    if (rc == LB_EAMBIGUOUS) {
        /* the move may have landed: look before anything is sent again */
        sm_version_list_dispose(&l);
        if (list_versions(&l, out, ctx) == 0 && (cur = find_stage(&l, STAGE_CURRENT)) != NULL &&
            strcmp(cur->version_id, to) == 0) {
            rc = step_done(out,
                           "secret %s: version %s is AWSCURRENT (%s; the ambiguous call had "
                           "landed)",
                           sid, to, what);
            goto done;
        }
        rc = lb_error_setc(LB_EAMBIGUOUS,
                           "UpdateSecretVersionStage %s: no answer and AWSCURRENT not yet moved",
                           sid);
        goto done;
    }
    if (rc == LB_EINVALID || rc == LB_ENOTFOUND) {
        rc = step_failed(out, "UpdateSecretVersionStageFailed", "UpdateSecretVersionStage %s: %s",
                         sid, lb_error_last());
        goto done;
    }
    if (rc != 0) {
        rc = lb_error_wrap(rc, "UpdateSecretVersionStage %s", sid);
        goto done;
    }
    rc = step_done(out, "secret %s: AWSCURRENT moved from %s to %s (%s is AWSPREVIOUS)", sid, from,
                   to, from);
done:
    sm_version_list_dispose(&l);
    return rc;
}

int secret_step_make_current(step_result *out, const step_ctx *ctx)
{
    const json_t *o = step_item_output(ctx);
    return move_current(out, ctx, json_string_value(json_object_get(o, "versionId")),
                        json_string_value(json_object_get(o, "previousVersionId")), "restored");
}

int secret_step_make_current_undo(step_result *out, const step_ctx *ctx)
{
    const json_t *o = step_item_output(ctx);
    return move_current(out, ctx, json_string_value(json_object_get(o, "previousVersionId")),
                        json_string_value(json_object_get(o, "versionId")), "rolled back");
}
