/* restore.c - RestoreRequest spec parsing, validation and execution order. */
#include "api/restore.h"

#include <stdio.h>
#include <string.h>

#include "api/private.h"
#include "api/schema.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

#define RESTORE_MAX_RDS_ID 63 /* characters of an RDS instance or cluster id */

static const char *const source_fields[API_SOURCE_COUNT + 1] = {
    "",
    "secretVersion",
    "rdsPointInTime",
    "rdsSnapshot",
    "rdsInPlace",
    "rdsClusterPointInTime",
    "pgDump",
    "redisRDB",
    "s3Objects",
    "s3Sync",
    "fileArchive",
    "job",
};

/* The order in which the CRD's rule and this message list the sources. */
static const api_source written_order[API_SOURCE_COUNT] = {
    API_SOURCE_RDS_POINT_IN_TIME, API_SOURCE_RDS_SNAPSHOT,
    API_SOURCE_RDS_IN_PLACE,      API_SOURCE_RDS_CLUSTER_POINT_IN_TIME,
    API_SOURCE_PG_DUMP,           API_SOURCE_REDIS_RDB,
    API_SOURCE_S3_OBJECTS,        API_SOURCE_S3_SYNC,
    API_SOURCE_SECRET_VERSION,    API_SOURCE_FILE_ARCHIVE,
    API_SOURCE_JOB,
};

const char *api_source_field(api_source s)
{
    return (int)s >= 0 && (int)s <= API_SOURCE_COUNT ? source_fields[s] : "";
}

api_restore_class api_source_class(api_source s)
{
    switch (s) {
    case API_SOURCE_SECRET_VERSION:
        return API_CLASS_SECRETS;
    case API_SOURCE_REDIS_RDB:
        return API_CLASS_REDIS;
    case API_SOURCE_S3_OBJECTS:
    case API_SOURCE_S3_SYNC:
    case API_SOURCE_FILE_ARCHIVE:
        return API_CLASS_S3;
    case API_SOURCE_JOB:
        return API_CLASS_SECRETS; /* the item's klass decides (see restore.h) */
    default:
        return API_CLASS_DATABASES;
    }
}

static const char *restore__keep(api_restore_spec *s, char *str)
{
    s->strings = lb_realloc(s->strings, (s->n_strings + 1) * sizeof(*s->strings));
    s->strings[s->n_strings++] = str;
    return str;
}

void api_restore_free(api_restore_spec *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_items; i++)
        free(s->items[i].depends_on);
    for (size_t i = 0; i < s->n_strings; i++)
        free(s->strings[i]);
    free(s->strings);
    free(s->items);
    free(s->order);
    free(s->rollout);
    free(s->workloads);
    json_decref(s->json);
    free(s);
}

const api_restore_item *api_restore_item_find(const api_restore_spec *s, const char *name)
{
    for (size_t i = 0; i < s->n_items; i++)
        if (strcmp(s->items[i].name, name) == 0)
            return &s->items[i];
    return NULL;
}

/* ---------------------------------------------------------------- checks */

/* A time field that must parse and not lie after now. */
static void restore__check_time(api_errors *e, const char *path, const json_t *obj, const char *key,
                                lb_time now, bool *out_has, lb_time *out_t)
{
    const char *v = api_get_str(obj, key);
    char *p;
    lb_time t;

    if (v == NULL)
        return;
    p = api_path_field(path, key);
    if (lb_time_parse_rfc3339(&t, v) != 0) {
        if (!api_errors_has_path(e, p))
            api_errors_add(e, p, "must be an RFC 3339 date-time: %s", lb_error_last());
    } else if (t.sec > now.sec || (t.sec == now.sec && t.nsec > now.nsec)) {
        char nowtxt[LB_TIME_RFC3339_MAX];
        lb_time_format(nowtxt, sizeof(nowtxt), now, 0);
        api_errors_add(e, p, "must not be in the future (%s is after now, %s)", v, nowtxt);
    } else if (out_has != NULL) {
        *out_has = true;
        *out_t = t;
    }
    free(p);
}

static void restore__check_duration(api_errors *e, const char *path, const json_t *obj,
                                    const char *key)
{
    const char *v = api_get_str(obj, key);
    int64_t sec;
    char *p;

    if (v == NULL)
        return;
    p = api_path_field(path, key);
    if (!api_errors_has_path(e, p) && api_duration_parse(&sec, v) != 0)
        api_errors_add(e, p, "%s", lb_error_last());
    free(p);
}

static void restore__check_bucket(api_errors *e, const char *path, const json_t *obj,
                                  const char *key)
{
    const char *v = api_get_str(obj, key), *rule;
    char *p;

    if (v == NULL)
        return;
    p = api_path_field(path, key);
    /* the rule in words instead of the schema's regular expression */
    api_errors_remove(e, p, "must match ");
    if (!api_errors_has_path(e, p) && !api_bucket_name_valid(v, &rule))
        api_errors_add(e, p, "%s", rule);
    free(p);
}

static void restore__check_rds_id(api_errors *e, const char *path, const json_t *obj,
                                  const char *key)
{
    const char *v = api_get_str(obj, key), *rule;
    char *p;

    if (v == NULL)
        return;
    p = api_path_field(path, key);
    api_errors_remove(e, p, "must match ");
    if (!api_errors_has_path(e, p) && !api_rds_identifier_valid(v, &rule))
        api_errors_add(e, p, "%s", rule);
    free(p);
}

static api_source restore__source_of(const json_t *item, api_errors *e, const char *path)
{
    api_source found = API_SOURCE_NONE;
    lb_buf names;
    size_t count = 0;

    buf_init(&names, 256);
    for (size_t i = 0; i < API_SOURCE_COUNT; i++) {
        api_source s = written_order[i];
        if (json_object_get(item, source_fields[s]) != NULL) {
            buf_printf(&names, "%s%s", count ? ", " : "", source_fields[s]);
            found = s;
            count++;
        }
    }
    if (count != 1 && e != NULL) {
        api_errors_remove(e, path, "items[]: exactly one source");
        api_errors_add(
            e, path,
            "exactly one source of rdsPointInTime, rdsSnapshot, rdsInPlace, rdsClusterPointInTime, "
            "pgDump, redisRDB, s3Objects, s3Sync, secretVersion, fileArchive, job must be set, "
            "found %zu%s%s",
            count, count ? ": " : "", buf_cstr(&names));
    }
    buf_dispose(&names);
    return count == 1 ? found : API_SOURCE_NONE;
}

/* fileArchive.target.subPath: relative, no "." or ".." component, no "//". */
static void restore__check_sub_path(api_errors *e, const char *sp, const json_t *target)
{
    const char *sub = api_get_str(target, "subPath");
    char *p;

    if (sub == NULL)
        return;
    p = api_path_field(sp, "target.subPath");
    if (sub[0] == '/')
        api_errors_add(e, p, "must be a relative path inside the volume");
    else
        for (const char *c = sub; *c != '\0';) {
            size_t n = strcspn(c, "/");
            if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) {
                api_errors_add(e, p, "must not contain an empty, '.' or '..' component");
                break;
            }
            c += n;
            if (*c == '/')
                c++;
        }
    free(p);
}

/* job.template: a JobTemplateSpec whose pod template has containers with a
 * name and an image; restartPolicy Never or OnFailure (a Job's rule). The
 * images and ServiceAccounts allowed are the scope's business (DESIGN.md
 * section 3.4), checked where scopes are enforced, not here. */
static void restore__check_job(api_errors *e, const char *sp, const json_t *tmpl)
{
    const json_t *spec = json_object_get(tmpl, "spec");
    const json_t *pod = json_object_get(json_object_get(spec, "template"), "spec");
    const json_t *containers = json_object_get(pod, "containers"), *c;
    const char *rp = api_get_str(pod, "restartPolicy");
    char *p = api_path_field(sp, "template.spec.template.spec");
    size_t i;

    if (!json_is_object(pod)) {
        api_errors_add(e, p, "is required (the Job's pod template spec)");
        free(p);
        return;
    }
    if (!json_is_array(containers) || json_array_size(containers) == 0) {
        char *cp = api_path_field(p, "containers");
        api_errors_add(e, cp, "at least one container is required");
        free(cp);
    }
    char *csp = api_path_field(p, "containers");
    json_array_foreach(containers, i, c)
    {
        char *cp = api_path_index(csp, i);
        if (api_get_str(c, "name") == NULL) {
            char *np = api_path_field(cp, "name");
            api_errors_add(e, np, "is required");
            free(np);
        }
        if (api_get_str(c, "image") == NULL || api_get_str(c, "image")[0] == '\0') {
            char *np = api_path_field(cp, "image");
            api_errors_add(e, np, "is required");
            free(np);
        }
        free(cp);
    }
    free(csp);
    if (rp != NULL && strcmp(rp, "Never") != 0 && strcmp(rp, "OnFailure") != 0) {
        char *rpp = api_path_field(p, "restartPolicy");
        api_errors_add(e, rpp, "must be Never or OnFailure");
        free(rpp);
    }
    if (json_object_get(spec, "selector") != NULL || json_object_get(spec, "manualSelector") != NULL) {
        char *sp2 = api_path_field(sp, "template.spec.selector");
        api_errors_add(e, sp2, "must not be set (the Job controller chooses it)");
        free(sp2);
    }
    free(p);
}

static void restore__check_item(api_errors *e, const json_t *items, size_t idx, lb_time now)
{
    const json_t *item = json_array_get(items, idx), *src, *deps, *d;
    char *path = api_path_index("spec.items", idx), *sp;
    api_source s;
    size_t j;

    if (!json_is_object(item)) {
        free(path);
        return;
    }
    s = restore__source_of(item, e, path);
    src = json_object_get(item, api_source_field(s));
    sp = api_path_field(path, api_source_field(s));
    switch (s) {
    case API_SOURCE_RDS_POINT_IN_TIME:
        restore__check_time(e, sp, src, "restoreTime", now, NULL, NULL);
        restore__check_rds_id(e, sp, src, "sourceDBInstanceIdentifier");
        restore__check_rds_id(e, sp, src, "targetDBInstanceIdentifier");
        break;
    case API_SOURCE_RDS_SNAPSHOT:
        restore__check_rds_id(e, sp, src, "targetDBInstanceIdentifier");
        if (json_is_object(json_object_get(src, "latestFrom"))) {
            char *lp = api_path_field(sp, "latestFrom");
            restore__check_rds_id(e, lp, json_object_get(src, "latestFrom"),
                                  "dbInstanceIdentifier");
            free(lp);
        }
        break;
    case API_SOURCE_RDS_IN_PLACE:
        restore__check_rds_id(e, sp, src, "dbInstanceIdentifier");
        break;
    case API_SOURCE_RDS_CLUSTER_POINT_IN_TIME:
        restore__check_time(e, sp, src, "restoreToTime", now, NULL, NULL);
        restore__check_rds_id(e, sp, src, "sourceDBClusterIdentifier");
        restore__check_rds_id(e, sp, src, "targetDBClusterIdentifier");
        restore__check_rds_id(e, sp, src, "writerInstanceIdentifier");
        break;
    case API_SOURCE_PG_DUMP:
    case API_SOURCE_REDIS_RDB:
    case API_SOURCE_FILE_ARCHIVE:
        if (json_is_object(json_object_get(src, "source"))) {
            char *bp = api_path_field(sp, "source");
            restore__check_bucket(e, bp, json_object_get(src, "source"), "bucket");
            free(bp);
        }
        if (s == API_SOURCE_FILE_ARCHIVE)
            restore__check_sub_path(e, sp, json_object_get(src, "target"));
        break;
    case API_SOURCE_JOB:
        restore__check_job(e, sp, json_object_get(src, "template"));
        break;
    case API_SOURCE_S3_OBJECTS:
        restore__check_bucket(e, sp, src, "bucket");
        restore__check_time(e, sp, src, "pointInTime", now, NULL, NULL);
        break;
    case API_SOURCE_S3_SYNC:
        restore__check_bucket(e, sp, src, "sourceBucket");
        restore__check_bucket(e, sp, src, "targetBucket");
        break;
    default:
        break;
    }
    free(sp);
    if (json_is_object(json_object_get(item, "cleanup"))) {
        char *cp = api_path_field(path, "cleanup");
        restore__check_duration(e, cp, json_object_get(item, "cleanup"), "after");
        free(cp);
    }
    deps = json_object_get(item, "dependsOn");
    json_array_foreach(deps, j, d)
    {
        const char *name = json_string_value(d);
        bool found = false;
        size_t k;
        json_t *other;
        if (name == NULL)
            continue;
        json_array_foreach(items, k, other)
        {
            const char *on = api_get_str(other, "name");
            if (k != idx && on != NULL && strcmp(on, name) == 0)
                found = true;
        }
        if (!found &&
            strcmp(name, api_get_str(item, "name") ? api_get_str(item, "name") : "") != 0) {
            char *dp = lb_sprintf("%s.dependsOn[%zu]", path, j);
            api_errors_remove(e, "spec.items", "items[].dependsOn: every name");
            api_errors_add(e, dp, "\"%s\" is not the name of an item of this request", name);
            free(dp);
        }
    }
    free(path);
}

static void restore__check_verification(api_errors *e, const json_t *v, const char *path,
                                        lb_time now)
{
    const json_t *scratch = json_object_get(v, "scratchRestore"), *checks;
    const json_t *report = json_object_get(v, "report"), *rpo = json_object_get(v, "rpo"), *c;
    size_t i;

    if (json_is_object(json_object_get(scratch, "rdsPointInTime"))) {
        char *p = lb_sprintf("%s.scratchRestore.rdsPointInTime", path);
        restore__check_time(e, p, json_object_get(scratch, "rdsPointInTime"), "restoreTime", now,
                            NULL, NULL);
        free(p);
    }
    if (json_is_object(rpo)) {
        char *p = api_path_field(path, "rpo");
        restore__check_duration(e, p, rpo, "maxAge");
        free(p);
    }
    if (json_is_object(report)) {
        char *p = api_path_field(path, "report");
        restore__check_bucket(e, p, report, "bucket");
        free(p);
    }
    checks = json_object_get(v, "checks");
    json_array_foreach(checks, i, c)
    {
        const json_t *cmp = json_object_get(c, "s3Compare");
        if (json_is_object(cmp)) {
            char *p = lb_sprintf("%s.checks[%zu].s3Compare", path, i);
            restore__check_bucket(e, p, cmp, "bucketA");
            restore__check_bucket(e, p, cmp, "bucketB");
            free(p);
        }
    }
}

void api__check_verification(api_errors *e, const json_t *v, const char *path, lb_time now)
{
    restore__check_verification(e, v, path, now);
}

void api__check_bucket(api_errors *e, const char *path, const json_t *obj, const char *key)
{
    restore__check_bucket(e, path, obj, key);
}

void api__check_duration(api_errors *e, const char *path, const json_t *obj, const char *key)
{
    restore__check_duration(e, path, obj, key);
}

void api__check_rds_id(api_errors *e, const char *path, const json_t *obj, const char *key)
{
    restore__check_rds_id(e, path, obj, key);
}

/* ---------------------------------------------------------------- order */

static int restore__index_of(const api_restore_spec *s, const char *name)
{
    for (size_t i = 0; i < s->n_items; i++)
        if (strcmp(s->items[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Names a cycle among the unplaced items: follow dependsOn edges from one of
 * them until a name repeats. */
static void restore__report_cycle(api_restore_spec *s, const bool *placed, api_errors *e)
{
    size_t n = s->n_items, start = 0, len = 0;
    size_t *walk = lb_calloc(n + 1, sizeof(*walk));
    int *seen_at = lb_calloc(n, sizeof(*seen_at));
    lb_buf msg;
    size_t cur;

    while (start < n && placed[start])
        start++;
    for (size_t i = 0; i < n; i++)
        seen_at[i] = -1;
    cur = start;
    while (seen_at[cur] < 0) {
        seen_at[cur] = (int)len;
        walk[len++] = cur;
        size_t next = cur;
        for (size_t d = 0; d < s->items[cur].n_depends_on; d++) {
            int k = restore__index_of(s, s->items[cur].depends_on[d]);
            if (k >= 0 && !placed[k]) {
                next = (size_t)k;
                break;
            }
        }
        cur = next;
    }
    buf_init(&msg, API_MAX_RULE);
    buf_append_str(&msg, "dependsOn cycle: ");
    for (size_t i = (size_t)seen_at[cur]; i < len; i++)
        buf_printf(&msg, "%s -> ", s->items[walk[i]].name);
    buf_append_str(&msg, s->items[cur].name);
    char *p = lb_sprintf("spec.items[%zu].dependsOn", s->items[cur].index);
    api_errors_add(e, p, "%s", buf_cstr(&msg));
    free(p);
    buf_dispose(&msg);
    free(walk);
    free(seen_at);
}

/* Kahn's algorithm choosing, among the items whose dependencies are placed,
 * the one with the lowest (class, written index): canonical order when there
 * are no dependsOn edges, stable with respect to the written order, and a
 * dependsOn may pull an item of a later class ahead of its dependant. */
static int restore__order(api_restore_spec *s, api_errors *e)
{
    size_t n = s->n_items;
    bool *placed = lb_calloc(n ? n : 1, sizeof(*placed));
    int rc = 0;

    s->order = lb_calloc(n ? n : 1, sizeof(*s->order));
    for (size_t k = 0; k < n; k++) {
        size_t best = n;
        for (size_t i = 0; i < n; i++) {
            bool ready = !placed[i];
            for (size_t d = 0; ready && d < s->items[i].n_depends_on; d++) {
                int dep = restore__index_of(s, s->items[i].depends_on[d]);
                if (dep >= 0 && !placed[dep])
                    ready = false;
            }
            if (!ready)
                continue;
            if (best == n || s->items[i].klass < s->items[best].klass)
                best = i;
        }
        if (best == n) {
            restore__report_cycle(s, placed, e);
            rc = LB_EINVALID;
            break;
        }
        placed[best] = true;
        s->order[k] = best;
    }
    free(placed);
    return rc;
}

/* ---------------------------------------------------------------- view */

/* FNV-1a, for short deterministic suffixes of default names. */
static uint32_t restore__hash(const char *a, const char *b)
{
    uint32_t h = 2166136261u;
    for (const char *p = a; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h = (h ^ '/') * 16777619u;
    for (const char *p = b; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

/* "<base>-<suffix>" cut so that it stays a valid RDS identifier. */
static char *restore__rds_name(const char *base, const char *suffix)
{
    size_t room = RESTORE_MAX_RDS_ID - strlen(suffix) - 1, n = strlen(base);
    if (n > room)
        n = room;
    while (n > 0 && base[n - 1] == '-')
        n--;
    return lb_sprintf("%.*s-%s", (int)n, base, suffix);
}

/* The instance id a snapshot id refers to, for default target names:
 * ARN and "rds:" prefixes dropped. */
static const char *restore__snapshot_base(const char *snap)
{
    const char *colon = strrchr(snap, ':');
    return colon != NULL ? colon + 1 : snap;
}

static void restore__default_target(api_restore_item *it, json_t *src, const char *target_key,
                                    const char *base)
{
    const char *given = api_get_str(src, target_key);
    if (given != NULL) {
        it->target_id = given;
        return;
    }
    char sfx[16];
    snprintf(sfx, sizeof(sfx), "lb-%08x", restore__hash(it->name, base));
    char *name = restore__rds_name(base, sfx);
    json_object_set_new(src, target_key, json_string(name));
    free(name);
    it->target_id = api_get_str(src, target_key);
}

static void restore__fill_ids(api_restore_spec *s, api_restore_item *it)
{
    json_t *src = (json_t *)it->source_spec, *sub;

    switch (it->source) {
    case API_SOURCE_RDS_POINT_IN_TIME:
        it->source_id = api_get_str(src, "sourceDBInstanceIdentifier");
        restore__default_target(it, src, "targetDBInstanceIdentifier", it->source_id);
        break;
    case API_SOURCE_RDS_SNAPSHOT:
        sub = json_object_get(src, "latestFrom");
        if (sub != NULL) {
            it->source_id = restore__keep(s, lb_sprintf("the latest %s snapshot of %s",
                                                        api_get_str(sub, "snapshotType"),
                                                        api_get_str(sub, "dbInstanceIdentifier")));
            restore__default_target(it, src, "targetDBInstanceIdentifier",
                                    api_get_str(sub, "dbInstanceIdentifier"));
        } else {
            it->source_id = api_get_str(src, "dbSnapshotIdentifier");
            restore__default_target(it, src, "targetDBInstanceIdentifier",
                                    restore__snapshot_base(it->source_id));
        }
        break;
    case API_SOURCE_RDS_IN_PLACE:
        it->target_id = api_get_str(src, "dbInstanceIdentifier");
        it->source_id = api_get_str(src, "dbSnapshotIdentifier");
        if (it->source_id == NULL)
            it->source_id =
                restore__keep(s, lb_sprintf("the latest %s snapshot of %s",
                                            api_get_str(src, "snapshotType"), it->target_id));
        break;
    case API_SOURCE_RDS_CLUSTER_POINT_IN_TIME: {
        it->source_id = api_get_str(src, "sourceDBClusterIdentifier");
        restore__default_target(it, src, "targetDBClusterIdentifier", it->source_id);
        if (api_get_str(src, "writerInstanceIdentifier") == NULL) {
            char *w = restore__rds_name(it->target_id, "writer");
            json_object_set_new(src, "writerInstanceIdentifier", json_string(w));
            free(w);
        }
        it->writer_id = api_get_str(src, "writerInstanceIdentifier");
        break;
    }
    case API_SOURCE_PG_DUMP:
    case API_SOURCE_REDIS_RDB:
        sub = json_object_get(src, "source");
        if (api_get_str(sub, "key") != NULL)
            it->source_id = restore__keep(
                s, lb_sprintf("s3://%s/%s", api_get_str(sub, "bucket"), api_get_str(sub, "key")));
        else
            it->source_id = restore__keep(s, lb_sprintf("the newest object under s3://%s/%s",
                                                        api_get_str(sub, "bucket"),
                                                        api_get_str(sub, "latestUnder")));
        if (it->source == API_SOURCE_PG_DUMP)
            it->target_id = restore__keep(
                s, lb_sprintf("the database of Secret %s key %s",
                              api_get_str(json_object_get(json_object_get(src, "target"),
                                                          "connectionSecretRef"),
                                          "name"),
                              api_get_str(json_object_get(json_object_get(src, "target"),
                                                          "connectionSecretRef"),
                                          "key")));
        else
            it->target_id = restore__keep(
                s, lb_sprintf("StatefulSet %s",
                              api_get_str(json_object_get(src, "target"), "statefulSet")));
        break;
    case API_SOURCE_S3_OBJECTS: {
        const char *prefix = api_get_str(src, "prefix");
        json_t *keys = json_object_get(src, "keys");
        if (prefix != NULL)
            it->source_id =
                restore__keep(s, lb_sprintf("s3://%s/%s*", api_get_str(src, "bucket"), prefix));
        else if (json_array_size(keys) == 1)
            it->source_id =
                restore__keep(s, lb_sprintf("s3://%s/%s", api_get_str(src, "bucket"),
                                            json_string_value(json_array_get(keys, 0))));
        else
            it->source_id =
                restore__keep(s, lb_sprintf("%zu keys in s3://%s", json_array_size(keys),
                                            api_get_str(src, "bucket")));
        it->target_id = api_get_str(src, "bucket");
        break;
    }
    case API_SOURCE_S3_SYNC:
        it->source_id = api_get_str(src, "sourceBucket");
        it->target_id = api_get_str(src, "targetBucket");
        break;
    case API_SOURCE_FILE_ARCHIVE: {
        const json_t *tg = json_object_get(src, "target");
        sub = json_object_get(src, "source");
        if (api_get_str(sub, "key") != NULL)
            it->source_id = restore__keep(
                s, lb_sprintf("s3://%s/%s", api_get_str(sub, "bucket"), api_get_str(sub, "key")));
        else
            it->source_id = restore__keep(s, lb_sprintf("the newest object under s3://%s/%s",
                                                        api_get_str(sub, "bucket"),
                                                        api_get_str(sub, "latestUnder")));
        it->target_id = restore__keep(
            s, lb_sprintf("PersistentVolumeClaim %s%s%s", api_get_str(tg, "persistentVolumeClaim"),
                          api_get_str(tg, "subPath") ? "/" : "",
                          api_get_str(tg, "subPath") ? api_get_str(tg, "subPath") : ""));
        break;
    }
    case API_SOURCE_JOB: {
        const json_t *c0 = json_array_get(
            json_object_get(
                json_object_get(
                    json_object_get(json_object_get(json_object_get(src, "template"), "spec"),
                                    "template"),
                    "spec"),
                "containers"),
            0);
        it->source_id = restore__keep(s, lb_sprintf("image %s", api_get_str(c0, "image")
                                                                    ? api_get_str(c0, "image")
                                                                    : "?"));
        it->target_id = "Job";
        break;
    }
    case API_SOURCE_SECRET_VERSION:
        if (api_get_str(src, "versionId") == NULL && api_get_str(src, "versionStage") == NULL)
            json_object_set_new(src, "versionStage", json_string("AWSPREVIOUS"));
        it->target_id = api_get_str(src, "secretId");
        if (api_get_str(src, "versionId") != NULL)
            it->source_id = restore__keep(
                s, lb_sprintf("version %s of %s", api_get_str(src, "versionId"), it->target_id));
        else
            it->source_id =
                restore__keep(s, lb_sprintf("the %s version of %s",
                                            api_get_str(src, "versionStage"), it->target_id));
        break;
    default:
        break;
    }
}

static size_t restore__workloads(api_workload *out, const json_t *list)
{
    size_t i;
    json_t *w;
    json_array_foreach(list, i, w)
    {
        out[i].kind = api_get_str(w, "kind");
        out[i].name = api_get_str(w, "name");
    }
    return json_array_size(list);
}

static void restore__build(api_restore_spec *s)
{
    json_t *items = json_object_get(s->json, "items"), *item,
           *rollout = json_object_get(s->json, "rollout");
    size_t i, n_workloads = 0, used = 0;

    s->dry_run = api_get_bool(s->json, "dryRun", false);
    s->approval_required = api_get_bool(json_object_get(s->json, "approval"), "required", true);
    s->rollback_on_failure = api_get_bool(s->json, "rollbackOnFailure", true);
    s->has_verification = json_is_object(json_object_get(s->json, "verification"));
    s->timeouts = json_object_get(s->json, "timeouts");
    s->abort_delete_copies =
        api_get_bool(json_object_get(s->json, "onAbort"), "deleteCopies", false);
    s->delete_keep_copies = api_get_bool(json_object_get(s->json, "onDelete"), "keepCopies", false);
    s->n_items = json_array_size(items);
    s->items = lb_calloc(s->n_items ? s->n_items : 1, sizeof(*s->items));
    json_array_foreach(items, i, item)
    {
        n_workloads += json_array_size(json_object_get(item, "scaleDown"));
        n_workloads +=
            json_array_size(json_object_get(json_object_get(item, "pgDump"), "scaleDown"));
        n_workloads +=
            json_array_size(json_object_get(json_object_get(item, "fileArchive"), "scaleDown"));
    }
    s->workloads = lb_calloc(n_workloads ? n_workloads : 1, sizeof(*s->workloads));
    json_array_foreach(items, i, item)
    {
        api_restore_item *it = &s->items[i];
        json_t *deps = json_object_get(item, "dependsOn"),
               *cleanup = json_object_get(item, "cleanup");
        size_t j;
        json_t *d;

        it->name = api_get_str(item, "name");
        it->index = i;
        it->spec = item;
        it->source = restore__source_of(item, NULL, NULL);
        it->source_spec = json_object_get(item, api_source_field(it->source));
        it->depends_on = lb_calloc(json_array_size(deps) + 1, sizeof(*it->depends_on));
        json_array_foreach(deps, j, d)
        {
            it->depends_on[it->n_depends_on++] = json_string_value(d);
        }
        it->promote_rename = api_get_str(item, "promote") != NULL &&
                             strcmp(api_get_str(item, "promote"), "rename") == 0;
        it->has_verify =
            json_array_size(json_object_get(json_object_get(item, "verify"), "checks")) > 0;
        it->has_migrations = json_is_object(json_object_get(item, "migrations"));
        it->n_secret_patches = json_array_size(json_object_get(item, "secretPatches"));
        it->scale_down = &s->workloads[used];
        it->n_scale_down =
            restore__workloads(&s->workloads[used], json_object_get(item, "scaleDown"));
        it->n_scale_down +=
            restore__workloads(&s->workloads[used + it->n_scale_down],
                               json_object_get(json_object_get(item, "pgDump"), "scaleDown"));
        it->n_scale_down += restore__workloads(
            &s->workloads[used + it->n_scale_down],
            json_object_get(json_object_get(item, "fileArchive"), "scaleDown"));
        used += it->n_scale_down;
        it->klass = it->source == API_SOURCE_JOB
                        ? (i > 0 ? s->items[i - 1].klass : API_CLASS_SECRETS)
                        : api_source_class(it->source);
        it->cleanup_delete_old = api_get_bool(cleanup, "deleteOld", false) && it->promote_rename;
        if (api_get_str(cleanup, "after") != NULL)
            (void)api_duration_parse(&it->cleanup_after_sec, api_get_str(cleanup, "after"));
        const char *t = api_get_str(
            it->source_spec, it->source == API_SOURCE_RDS_CLUSTER_POINT_IN_TIME ? "restoreToTime"
                             : it->source == API_SOURCE_S3_OBJECTS              ? "pointInTime"
                                                                                : "restoreTime");
        if (t != NULL && lb_time_parse_rfc3339(&it->restore_time, t) == 0)
            it->has_restore_time = true;
        restore__fill_ids(s, it);
    }
    s->rollout = lb_calloc(json_array_size(rollout) + 1, sizeof(*s->rollout));
    s->n_rollout = restore__workloads(s->rollout, rollout);
}

int api_restore_check_name(api_errors *errs, const char *name)
{
    api_errors local = {0};
    api_errors *e = errs != NULL ? errs : &local;
    int rc;

    if (name == NULL || (int)strlen(name) <= API_RESTORE_MAX_NAME)
        return 0;
    api_errors_add(e, "metadata.name",
                   "at most %d characters: the rollback Secret %s<name> must be a valid "
                   "Secret name (253 characters at most); this name has %zu",
                   API_RESTORE_MAX_NAME, API_RESTORE_ROLLBACK_PREFIX, strlen(name));
    rc = api_errors_fail(e, "RestoreRequest");
    api_errors_dispose(&local);
    return rc;
}

int api_restore_parse(api_restore_spec **out, api_errors *errs, const json_t *spec, lb_time now)
{
    api_errors local = {0};
    api_errors *e = errs != NULL ? errs : &local;
    size_t before = e->len + e->dropped, i;
    api_restore_spec *s = NULL;
    json_t *copy = NULL, *items;
    int rc = 0;

    *out = NULL;
    if (!json_is_object(spec)) {
        api_errors_add(e, "spec", "must be an object");
        rc = api_errors_fail(e, "RestoreRequest spec");
        goto done;
    }
    copy = json_deep_copy(spec);
    api_schema_validate(copy, API_KIND_RESTORE_REQUEST, "spec", "spec", e);
    items = json_object_get(copy, "items");
    if (json_is_array(items) && json_array_size(items) <= API_RESTORE_MAX_ITEMS)
        for (i = 0; i < json_array_size(items); i++)
            restore__check_item(e, items, i, now);
    if (json_is_object(json_object_get(copy, "verification")))
        restore__check_verification(e, json_object_get(copy, "verification"), "spec.verification",
                                    now);
    if (json_is_object(json_object_get(copy, "timeouts"))) {
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(copy, "timeouts"), key, v)
        {
            int64_t sec = 0;
            char *p = api_path_field("spec.timeouts", key);
            if (!api_errors_has_path(e, p) && json_is_string(v) &&
                api_duration_parse(&sec, json_string_value(v)) == 0 && sec <= 0)
                api_errors_add(e, p, "a deadline must be longer than 0s");
            free(p);
            restore__check_duration(e, "spec.timeouts", json_object_get(copy, "timeouts"), key);
        }
    }
    if (e->len + e->dropped != before) {
        rc = api_errors_fail(e, "RestoreRequest spec");
        goto done;
    }
    s = lb_calloc(1, sizeof(*s));
    s->json = copy;
    copy = NULL;
    restore__build(s);
    if (restore__order(s, e) != 0) {
        rc = api_errors_fail(e, "RestoreRequest spec");
        goto done;
    }
    *out = s;
    s = NULL;
done:
    api_restore_free(s);
    json_decref(copy);
    api_errors_dispose(&local);
    return rc;
}
