/* restore/steps_discard.c - deleting a restored copy that was never put live
 * (the undo of "<item>/restore" when a request is aborted or deleted before its
 * cutover; see step.h and the README's "Restores"). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "aws/rds.h"
#include "controller/restore/step.h"
#include "util/error.h"

#define DISCARD_POLL_MS 2000
#define DISCARD_TAG_UID "lifeboat.dev/uid"

/* 1 when the instance's lifeboat.dev/uid tag is this request's uid, 0 when
 * not, < 0 on error. */
static int copy_is_ours(const step_ctx *ctx, const char *arn)
{
    rds_tag_list tags;
    step_tags t;
    const char *v;
    int rc, ours;

    if (arn == NULL)
        return 0;
    step_tags_of(&t, ctx);
    rc = rds_list_tags_for_resource(&tags, ctx->aws, arn);
    if (rc == LB_ENOTFOUND) /* renamed or deleted since described: look again */
        return lb_error_setc(LB_ETIMEOUT,
                             "%s was renamed or deleted while its tags were read; describing again",
                             arn);
    if (rc != 0)
        return rc;
    v = rds_tag_list_get(&tags, DISCARD_TAG_UID);
    ours = v != NULL && t.uid != NULL && t.uid[0] != '\0' && strcmp(v, t.uid) == 0;
    rds_tag_list_dispose(&tags);
    return ours;
}

int rds_step_discard_copy(step_result *out, const step_ctx *ctx)
{
    const json_t *o = step_item_output(ctx);
    const char *id = NULL;
    rds_instance inst, gone;
    int rc, ours;

    if (ctx->item == NULL)
        return step_failed(out, "InvalidStep", "step %s has no item",
                           ctx->step ? ctx->step->name : "?");
    if (ctx->aws == NULL)
        return step_failed(out, "NoAWSConfiguration", "the operator has no AWS configuration");
    id = json_string_value(json_object_get(o, "instanceIdentifier"));
    if (id == NULL)
        id = ctx->item->target_id;
    if (id == NULL || id[0] == '\0')
        return step_done(out, "no restored copy to delete");
    rc = rds_describe_db_instance(&inst, ctx->aws, id);
    if (rc == LB_ENOTFOUND) {
        lb_error_clear();
        return step_done(out, "restored copy %s deleted (or never created)", id);
    }
    if (rc != 0)
        return lb_error_wrap(rc, "describe the restored copy %s", id);
    ours = copy_is_ours(ctx, inst.arn);
    if (ours <= 0) {
        rds_instance_dispose(&inst);
        if (ours < 0)
            return lb_error_wrap(ours, "read the tags of %s", id);
        /* the name is held by something this request did not make: never touched */
        return step_done(out,
                         "DB instance %s does not carry this request's uid tag: not ours, "
                         "left alone",
                         id);
    }
    if (inst.status != NULL && strcmp(inst.status, "deleting") == 0) {
        rds_instance_dispose(&inst);
        return step_wait(out, DISCARD_POLL_MS, "restored copy %s is being deleted", id);
    }
    rds_instance_dispose(&inst);
    /* a copy that was never live: no final snapshot (its data is the source's
     * backups, which are kept) */
    memset(&gone, 0, sizeof(gone));
    rc = rds_delete_db_instance(&gone, ctx->aws, id, NULL, false); /* backups kept (issue 10.3) */
    rds_instance_dispose(&gone);
    if (rc == LB_ENOTFOUND) {
        lb_error_clear();
        return step_done(out, "restored copy %s deleted", id);
    }
    if (rc != 0)
        return lb_error_wrap(rc, "delete the restored copy %s", id);
    return step_wait(out, DISCARD_POLL_MS, "deleting the restored copy %s", id);
}
