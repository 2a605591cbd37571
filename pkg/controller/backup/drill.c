/* backup/drill.c - scheduled VerificationRuns (see drill.h). */
#include "controller/backup/drill.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller/agentjob.h"
#include "controller/backup/policy.h"
#include "util/error.h"

static const char *md(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
    return s != NULL ? s : "";
}

static int64_t time_of(const char *s)
{
    lb_time t;
    if (s == NULL || lb_time_parse_rfc3339(&t, s) != 0)
        return 0;
    return t.sec;
}

static int owned_by(const json_t *obj, const char *uid)
{
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "ownerReferences"), i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "uid")) ?: "", uid) == 0)
            return 1;
    }
    return 0;
}

static int cmp_created(const void *a, const void *b)
{
    const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
    int c = strcmp(md(x, "creationTimestamp"), md(y, "creationTimestamp"));
    return c != 0 ? -c : -strcmp(md(x, "name"), md(y, "name")); /* newest first */
}

static int finished(const json_t *vr)
{
    const char *ph = json_string_value(json_object_get(json_object_get(vr, "status"), "phase"));
    return ph != NULL && (strcmp(ph, "Passed") == 0 || strcmp(ph, "Failed") == 0);
}

/* Deletes this policy's finished drills beyond the newest BACKUP_DRILLS_KEEP
 * (a drill still running is never deleted: its scratch instance would be
 * torn down mid-way); follows status.lastVerification's run's phase.
 * *out_active: 1 when that run exists and has not finished. */
static int prune_and_follow(int *out_active, json_t *st, kube_client *kube, const json_t *bp)
{
    kube_ref ref = {.group = "lifeboat.dev",
                    .version = "v1alpha1",
                    .resource = "verificationruns",
                    .namespace = md(bp, "namespace")};
    json_t *list = NULL;
    const json_t **mine = NULL;
    size_t n = 0, kept = 0, i;
    const json_t *it;
    int rc;

    *out_active = 0;
    rc = kube_list(&list, kube, &ref, NULL);
    if (rc != 0)
        return rc;
    const json_t *items = json_object_get(list, "items");
    mine = calloc(json_array_size(items) + 1, sizeof(*mine));
    json_array_foreach(items, i, it)
    {
        if (owned_by(it, md(bp, "uid")))
            mine[n++] = it;
    }
    if (n > 1)
        qsort(mine, n, sizeof(*mine), cmp_created);
    json_t *lv = json_object_get(st, "lastVerification");
    const char *lname = json_string_value(json_object_get(lv, "name"));
    for (i = 0; i < n; i++) {
        if (lname != NULL && strcmp(md(mine[i], "name"), lname) == 0) {
            const char *ph =
                json_string_value(json_object_get(json_object_get(mine[i], "status"), "phase"));
            if (ph != NULL)
                json_object_set_new(lv, "phase", json_string(ph));
            if (!finished(mine[i]))
                *out_active = 1;
        }
        if (!finished(mine[i]) || ++kept <= BACKUP_DRILLS_KEEP)
            continue;
        ref.name = md(mine[i], "name");
        int drc = kube_delete(NULL, kube, &ref, "Background");
        ref.name = NULL;
        if (drc != 0 && drc != LB_ENOTFOUND) {
            rc = drc;
            break;
        }
    }
    free(mine);
    json_decref(list);
    return rc;
}

int backup_drill(int64_t *out_requeue_ms, int *out_created, json_t *st, kube_client *kube,
                 const json_t *bp, const api_backup_spec *spec, lb_time now)
{
    const json_t *tmpl = json_object_get(json_object_get(spec->json, "verification"), "template");
    json_t *lv = json_object_get(st, "lastVerification");
    int64_t base, due = 0, next = 0;
    int rc, active = 0;

    *out_requeue_ms = -1;
    *out_created = 0;
    if (!spec->has_verification || tmpl == NULL)
        return 0;
    rc = prune_and_follow(&active, st, kube, bp);
    if (rc != 0)
        return rc;
    if (active) { /* no overlap: ticks due meanwhile collapse into one after it */
        *out_requeue_ms = BACKUP_DRILL_POLL_MS;
        return 0;
    }
    base = time_of(json_string_value(json_object_get(lv, "time")));
    if (base == 0)
        base = time_of(md(bp, "creationTimestamp"));
    rc = backup_schedule_due(&due, &next, &spec->verification_schedule, spec->verification_tz, base,
                             now.sec);
    if (rc != 0)
        return rc;
    if (next != 0)
        *out_requeue_ms = (next - now.sec) * 1000 + 50;
    if (due != 0) {
        char stamp[32], full[320], name[64], when[LB_TIME_RFC3339_MAX];
        struct tm tm;
        time_t t = (time_t)due;
        gmtime_r(&t, &tm);
        strftime(stamp, sizeof(stamp), "%Y%m%d%H%M", &tm);
        snprintf(full, sizeof(full), "%s-drill-%s", md(bp, "name"), stamp);
        agentjob_object_name(name, sizeof(name), full);
        const char *api = json_string_value(json_object_get(bp, "apiVersion"));
        json_t *vr = json_pack(
            "{s:s, s:s, s:{s:s, s:s, s:{s:s}, s:[{s:s, s:s, s:s, s:s, s:b, s:b}]}, s:O}",
            "apiVersion", "lifeboat.dev/v1alpha1", "kind", "VerificationRun", "metadata", "name",
            name, "namespace", md(bp, "namespace"), "annotations", "lifeboat.dev/backup-policy",
            md(bp, "name"), "ownerReferences", "apiVersion", api ? api : "lifeboat.dev/v1alpha1",
            "kind", "BackupPolicy", "name", md(bp, "name"), "uid", md(bp, "uid"), "controller", 1,
            "blockOwnerDeletion", 1, "spec", tmpl);
        kube_ref ref = {.group = "lifeboat.dev",
                        .version = "v1alpha1",
                        .resource = "verificationruns",
                        .namespace = md(bp, "namespace")};
        rc = kube_create(NULL, kube, &ref, vr);
        json_decref(vr);
        if (rc == LB_ECONFLICT) /* made for this tick before a crash: adopt it */
            rc = 0;
        else if (rc == 0)
            *out_created = 1;
        if (rc != 0)
            return rc;
        lb_time_format(when, sizeof(when), (lb_time){due, 0}, 0);
        lv = json_pack("{s:s, s:s, s:s}", "name", name, "time", when, "phase", "Pending");
        json_object_set_new(st, "lastVerification", lv);
        *out_requeue_ms = BACKUP_DRILL_POLL_MS; /* follow the new drill's phase */
    }
    return 0;
}
