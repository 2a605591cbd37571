/* Unit tests for restore/steps_rds.c against a local fake RDS: a one-thread
 * HTTP server that keeps instances, snapshots and tags in memory, answers the
 * Query API calls the steps make, and logs every mutating call, so that each
 * test can assert the calls a step made and the state it left. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "api/restore.h"
#include "aws/credentials.h"
#include "aws/request.h"
#include "controller/restore/step.h"
#include "util/error.h"

#define UID       "0f1e2d3c-aaaa-bbbb-cccc-000000000001"
#define OTHER_UID "99999999-aaaa-bbbb-cccc-000000000002"
#define FAKE_MAX  16
#define FAKE_TAGS 8
#define LOG_MAX   32
#define REQ_MAX   (64 * 1024)

/* ---- the fake RDS ------------------------------------------------------------ */

typedef struct fake_tag {
    char key[64], value[128];
} fake_tag;

typedef struct fake_inst {
    int used;
    char id[64], status[32], arn[128];
    int port;
    int polls_until_available; /* describes that still show the transitional status */
    char pending_id[64];       /* a lagged rename's new identifier */
    int lag;                   /* DescribeDBInstances calls before it lands */
    fake_tag tags[FAKE_TAGS];
    int ntags;
    int is_cluster;      /* a DB cluster (DescribeDBClusters), not an instance */
    char cluster_id[64]; /* an instance: the cluster it is a member of, or "" */
} fake_inst;

typedef struct fake_snap {
    int used;
    char id[128], instance[64], status[32], type[16], created[32];
} fake_snap;

typedef struct fake {
    int fd, port, stop;
    pthread_t thread;
    pthread_mutex_t lock;
    fake_inst inst[FAKE_MAX];
    fake_snap snap[FAKE_MAX];
    char log[LOG_MAX][256]; /* mutating calls */
    int nlog;
    int calls;               /* every request */
    const char *fail_action; /* answer this action with fail_status/fail_code once */
    int fail_status;         /* 0: close the connection without an answer */
    const char *fail_code;
    int fail_apply; /* apply the failed call first (AWS applied it, then the 5xx/drop) */
    int rename_lag; /* renames keep the old name (status renaming) for this many describes */
    char last_form[REQ_MAX]; /* body of the last mutating request */
} fake;

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The decoded value of key in a form body, into out; 1 if present. */
static int form_get(const char *body, const char *key, char *out, size_t size)
{
    size_t klen = strlen(key);
    const char *p = body;

    while (p != NULL && *p) {
        const char *amp = strchr(p, '&');
        const char *end = amp ? amp : p + strlen(p);
        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            size_t n = 0;
            for (const char *q = p + klen + 1; q < end && n + 1 < size; q++) {
                if (*q == '%' && q + 2 < end + 1 && hexval(q[1]) >= 0 && hexval(q[2]) >= 0) {
                    out[n++] = (char)(hexval(q[1]) * 16 + hexval(q[2]));
                    q += 2;
                } else {
                    out[n++] = *q == '+' ? ' ' : *q;
                }
            }
            out[n] = '\0';
            return 1;
        }
        p = amp ? amp + 1 : NULL;
    }
    out[0] = '\0';
    return 0;
}

static fake_inst *fake_find(fake *f, const char *id)
{
    for (int i = 0; i < FAKE_MAX; i++)
        if (f->inst[i].used && !f->inst[i].is_cluster && strcmp(f->inst[i].id, id) == 0)
            return &f->inst[i];
    return NULL;
}

static fake_inst *fake_find_cluster(fake *f, const char *id)
{
    for (int i = 0; i < FAKE_MAX; i++)
        if (f->inst[i].used && f->inst[i].is_cluster && strcmp(f->inst[i].id, id) == 0)
            return &f->inst[i];
    return NULL;
}

static fake_inst *fake_by_arn(fake *f, const char *arn)
{
    for (int i = 0; i < FAKE_MAX; i++)
        if (f->inst[i].used && strcmp(f->inst[i].arn, arn) == 0)
            return &f->inst[i];
    return NULL;
}

static fake_snap *fake_find_snap(fake *f, const char *id)
{
    for (int i = 0; i < FAKE_MAX; i++)
        if (f->snap[i].used && strcmp(f->snap[i].id, id) == 0)
            return &f->snap[i];
    return NULL;
}

static void tag_set(fake_inst *in, const char *k, const char *v)
{
    for (int i = 0; i < in->ntags; i++) {
        if (strcmp(in->tags[i].key, k) == 0) {
            snprintf(in->tags[i].value, sizeof(in->tags[i].value), "%s", v);
            return;
        }
    }
    if (in->ntags < FAKE_TAGS) {
        snprintf(in->tags[in->ntags].key, sizeof(in->tags[0].key), "%s", k);
        snprintf(in->tags[in->ntags].value, sizeof(in->tags[0].value), "%s", v);
        in->ntags++;
    }
}

static fake_inst *fake_add(fake *f, const char *id, const char *status, const char *uid_tag)
{
    static int next_port = 25500;
    for (int i = 0; i < FAKE_MAX; i++) {
        fake_inst *in = &f->inst[i];
        if (in->used)
            continue;
        memset(in, 0, sizeof(*in));
        in->used = 1;
        snprintf(in->id, sizeof(in->id), "%s", id);
        snprintf(in->status, sizeof(in->status), "%s", status);
        snprintf(in->arn, sizeof(in->arn), "arn:aws:rds:us-east-1:123456789012:db:%s-%d", id, i);
        in->port = next_port++;
        if (uid_tag != NULL) {
            tag_set(in, "lifeboat.dev/owner", "RestoreRequest/shop/orders-restore");
            tag_set(in, "lifeboat.dev/uid", uid_tag);
        }
        return in;
    }
    abort();
}

/* A cluster `id` with one member instance `writer` (NULL: none). */
static fake_inst *fake_add_cluster(fake *f, const char *id, const char *status, const char *uid_tag,
                                   const char *writer)
{
    fake_inst *cl = fake_add(f, id, status, uid_tag);
    cl->is_cluster = 1;
    snprintf(cl->arn, sizeof(cl->arn), "arn:aws:rds:us-east-1:123456789012:cluster:%s-%d", id,
             (int)(cl - f->inst));
    if (writer != NULL) {
        fake_inst *w = fake_add(f, writer, "available", NULL);
        snprintf(w->cluster_id, sizeof(w->cluster_id), "%s", id);
    }
    return cl;
}

static fake_snap *fake_add_snap(fake *f, const char *id, const char *inst, const char *status,
                                const char *type, const char *created)
{
    for (int i = 0; i < FAKE_MAX; i++) {
        fake_snap *s = &f->snap[i];
        if (s->used)
            continue;
        s->used = 1;
        snprintf(s->id, sizeof(s->id), "%s", id);
        snprintf(s->instance, sizeof(s->instance), "%s", inst);
        snprintf(s->status, sizeof(s->status), "%s", status);
        snprintf(s->type, sizeof(s->type), "%s", type);
        snprintf(s->created, sizeof(s->created), "%s", created);
        return s;
    }
    abort();
}

static void fake_log(fake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fake_log(fake *f, const char *fmt, ...)
{
    va_list ap;
    if (f->nlog >= LOG_MAX)
        return;
    va_start(ap, fmt);
    vsnprintf(f->log[f->nlog++], sizeof(f->log[0]), fmt, ap);
    va_end(ap);
}

/* A cluster's XML with its members (instances whose cluster_id is its id). */
static void cluster_xml(char *out, size_t size, const fake *f, const fake_inst *cl)
{
    size_t n = (size_t)snprintf(out, size,
                                "<DBCluster><DBClusterIdentifier>%s</DBClusterIdentifier>"
                                "<Status>%s</Status><DBClusterArn>%s</DBClusterArn>"
                                "<Engine>aurora-postgresql</Engine><Endpoint>%s.cluster-x"
                                "</Endpoint><Port>%d</Port><DBClusterMembers>",
                                cl->id, cl->status, cl->arn, cl->id, cl->port);
    for (int i = 0; i < FAKE_MAX; i++) {
        const fake_inst *m = &f->inst[i];
        if (m->used && !m->is_cluster && strcmp(m->cluster_id, cl->id) == 0)
            n += (size_t)snprintf(out + n, size - n,
                                  "<DBClusterMember><DBInstanceIdentifier>%s"
                                  "</DBInstanceIdentifier><IsClusterWriter>true</IsClusterWriter>"
                                  "</DBClusterMember>",
                                  m->id);
    }
    snprintf(out + n, size - n, "</DBClusterMembers></DBCluster>");
}

/* Renames cluster cl to nid, its members with it. */
static void cluster_move(fake *f, fake_inst *cl, const char *nid)
{
    for (int i = 0; i < FAKE_MAX; i++)
        if (f->inst[i].used && !f->inst[i].is_cluster && strcmp(f->inst[i].cluster_id, cl->id) == 0)
            snprintf(f->inst[i].cluster_id, sizeof(f->inst[i].cluster_id), "%s", nid);
    snprintf(cl->id, sizeof(cl->id), "%s", nid);
}

static void inst_xml(char *out, size_t size, const fake_inst *in)
{
    snprintf(out, size,
             "<DBInstance><DBInstanceIdentifier>%s</DBInstanceIdentifier>"
             "<DBInstanceStatus>%s</DBInstanceStatus><DBInstanceArn>%s</DBInstanceArn>"
             "<Engine>postgres</Engine><DBInstanceClass>db.t3.micro</DBInstanceClass>"
             "<InstanceCreateTime>2026-01-01T00:00:00Z</InstanceCreateTime>"
             "<LatestRestorableTime>2026-11-01T00:00:00Z</LatestRestorableTime>"
             "<Endpoint><Address>127.0.0.1</Address><Port>%d</Port></Endpoint></DBInstance>",
             in->id, in->status, in->arn, in->port);
}

static void error_xml(char *out, size_t size, const char *code, const char *msg)
{
    snprintf(out, size,
             "<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message>"
             "</Error><RequestId>x</RequestId></ErrorResponse>",
             code, msg);
}

static int name_pending(const fake *f, const char *id)
{
    for (int i = 0; i < FAKE_MAX; i++)
        if (f->inst[i].used && f->inst[i].lag > 0 && strcmp(f->inst[i].pending_id, id) == 0)
            return 1;
    return 0;
}

static void fake_apply(fake *f, const char *action, const char *body, int *status, char *out,
                       size_t size);

/* Answers one request: fills status (0: drop the connection) and body. */
static void fake_handle(fake *f, const char *body, int *status, char *out, size_t size)
{
    char action[64];

    form_get(body, "Action", action, sizeof(action));
    *status = 200;
    f->calls++;
    if (f->fail_action != NULL && strcmp(action, f->fail_action) == 0) {
        f->fail_action = NULL;
        if (f->fail_apply)
            fake_apply(f, action, body, status, out, size);
        *status = f->fail_status;
        error_xml(out, size, f->fail_code, "scripted failure: the window is [a, b]");
        return;
    }
    fake_apply(f, action, body, status, out, size);
}

static void fake_apply(fake *f, const char *action, const char *body, int *status, char *out,
                       size_t size)
{
    char id[128], v[256], x[2048];
    fake_inst *in;
    size_t n = 0;

    if (strcmp(action, "DescribeDBInstances") == 0) {
        for (int i = 0; i < FAKE_MAX; i++) { /* lagged renames land */
            in = &f->inst[i];
            if (in->used && !in->is_cluster && in->lag > 0 && --in->lag == 0) {
                memcpy(in->id, in->pending_id, sizeof(in->id));
                in->polls_until_available = 2;
            }
        }
        int have = form_get(body, "DBInstanceIdentifier", id, sizeof(id));
        n = (size_t)snprintf(out, size,
                             "<DescribeDBInstancesResponse><DescribeDBInstancesResult>"
                             "<DBInstances>");
        for (int i = 0; i < FAKE_MAX; i++) {
            in = &f->inst[i];
            if (!in->used || in->is_cluster || (have && strcmp(in->id, id) != 0))
                continue;
            if (in->polls_until_available > 0 && --in->polls_until_available == 0) {
                inst_xml(x, sizeof(x), in);
                snprintf(in->status, sizeof(in->status), "available");
            } else {
                inst_xml(x, sizeof(x), in);
            }
            n += (size_t)snprintf(out + n, size - n, "%s", x);
        }
        if (have && fake_find(f, id) == NULL) {
            *status = 404;
            snprintf(v, sizeof(v), "DBInstance %s not found.", id);
            error_xml(out, size, "DBInstanceNotFound", v);
            return;
        }
        snprintf(out + n, size - n,
                 "</DBInstances></DescribeDBInstancesResult>"
                 "</DescribeDBInstancesResponse>");
        return;
    }
    if (strcmp(action, "DescribeDBClusters") == 0) {
        for (int i = 0; i < FAKE_MAX; i++) { /* lagged cluster renames land */
            in = &f->inst[i];
            if (in->used && in->is_cluster && in->lag > 0 && --in->lag == 0) {
                cluster_move(f, in, in->pending_id);
                in->polls_until_available = 2;
            }
        }
        form_get(body, "DBClusterIdentifier", id, sizeof(id));
        in = fake_find_cluster(f, id);
        if (in == NULL) {
            *status = 404;
            snprintf(v, sizeof(v), "DBCluster %s not found.", id);
            error_xml(out, size, "DBClusterNotFoundFault", v);
            return;
        }
        cluster_xml(x, sizeof(x), f, in);
        if (in->polls_until_available > 0 && --in->polls_until_available == 0)
            snprintf(in->status, sizeof(in->status), "available");
        snprintf(out, size,
                 "<DescribeDBClustersResponse><DescribeDBClustersResult><DBClusters>%s"
                 "</DBClusters></DescribeDBClustersResult></DescribeDBClustersResponse>",
                 x);
        return;
    }
    if (strcmp(action, "ListTagsForResource") == 0) {
        form_get(body, "ResourceName", v, sizeof(v));
        in = fake_by_arn(f, v);
        n = (size_t)snprintf(out, size,
                             "<ListTagsForResourceResponse><ListTagsForResourceResult>"
                             "<TagList>");
        for (int i = 0; in != NULL && i < in->ntags; i++)
            n += (size_t)snprintf(out + n, size - n, "<Tag><Key>%s</Key><Value>%s</Value></Tag>",
                                  in->tags[i].key, in->tags[i].value);
        snprintf(out + n, size - n,
                 "</TagList></ListTagsForResourceResult>"
                 "</ListTagsForResourceResponse>");
        return;
    }
    if (strcmp(action, "DescribeDBSnapshots") == 0) {
        int by_id = form_get(body, "DBSnapshotIdentifier", id, sizeof(id));
        char inst[64], type[16];
        int by_inst = form_get(body, "DBInstanceIdentifier", inst, sizeof(inst));
        int by_type = form_get(body, "SnapshotType", type, sizeof(type));
        if (by_id && fake_find_snap(f, id) == NULL) {
            *status = 404;
            snprintf(v, sizeof(v), "DBSnapshot %s not found.", id);
            error_xml(out, size, "DBSnapshotNotFound", v);
            return;
        }
        n = (size_t)snprintf(out, size,
                             "<DescribeDBSnapshotsResponse><DescribeDBSnapshotsResult>"
                             "<DBSnapshots>");
        for (int i = 0; i < FAKE_MAX; i++) {
            fake_snap *s = &f->snap[i];
            if (!s->used || (by_id && strcmp(s->id, id) != 0) ||
                (by_inst && strcmp(s->instance, inst) != 0) ||
                (by_type && strcmp(s->type, type) != 0))
                continue;
            n += (size_t)snprintf(
                out + n, size - n,
                "<DBSnapshot><DBSnapshotIdentifier>%s</DBSnapshotIdentifier>"
                "<DBInstanceIdentifier>%s</DBInstanceIdentifier><Status>%s</Status>"
                "<SnapshotType>%s</SnapshotType><SnapshotCreateTime>%s</SnapshotCreateTime>"
                "</DBSnapshot>",
                s->id, s->instance, s->status, s->type, s->created);
        }
        snprintf(out + n, size - n,
                 "</DBSnapshots></DescribeDBSnapshotsResult>"
                 "</DescribeDBSnapshotsResponse>");
        return;
    }
    /* mutating calls */
    snprintf(f->last_form, sizeof(f->last_form), "%s", body);
    if (strcmp(action, "AddTagsToResource") == 0) {
        char k[64];
        form_get(body, "ResourceName", v, sizeof(v));
        in = fake_by_arn(f, v);
        form_get(body, "Tags.Tag.1.Key", k, sizeof(k));
        form_get(body, "Tags.Tag.1.Value", x, sizeof(x));
        if (in != NULL)
            tag_set(in, k, x);
        fake_log(f, "AddTagsToResource %s %s=%s", in ? in->id : "?", k,
                 strcmp(x, UID) == 0 ? "UID" : x);
        snprintf(out, size, "<AddTagsToResourceResponse/>");
        return;
    }
    if (strcmp(action, "ModifyDBInstance") == 0) {
        char nid[64];
        form_get(body, "DBInstanceIdentifier", id, sizeof(id));
        form_get(body, "NewDBInstanceIdentifier", nid, sizeof(nid));
        fake_log(f, "ModifyDBInstance %s -> %s", id, nid);
        in = fake_find(f, id);
        if (in == NULL || fake_find(f, nid) != NULL || name_pending(f, nid)) {
            *status = 400;
            error_xml(out, size, in ? "DBInstanceAlreadyExists" : "DBInstanceNotFound", "no");
            return;
        }
        if (strcmp(in->status, "available") != 0) {
            *status = 400;
            error_xml(out, size, "InvalidDBInstanceState", "not available");
            return;
        }
        snprintf(in->status, sizeof(in->status), "renaming");
        if (f->rename_lag > 0) {
            snprintf(in->pending_id, sizeof(in->pending_id), "%s", nid);
            in->lag = f->rename_lag;
            in->polls_until_available = 0;
        } else {
            snprintf(in->id, sizeof(in->id), "%s", nid);
            in->polls_until_available = 2;
        }
        inst_xml(x, sizeof(x), in);
        snprintf(out, size,
                 "<ModifyDBInstanceResponse><ModifyDBInstanceResult>%s"
                 "</ModifyDBInstanceResult></ModifyDBInstanceResponse>",
                 x);
        return;
    }
    if (strcmp(action, "RestoreDBInstanceToPointInTime") == 0 ||
        strcmp(action, "RestoreDBInstanceFromDBSnapshot") == 0) {
        char uid[64];
        form_get(body, "TargetDBInstanceIdentifier", id, sizeof(id));
        if (id[0] == '\0')
            form_get(body, "DBInstanceIdentifier", id, sizeof(id));
        fake_log(f, "%s %s", action, id);
        form_get(body, "Tags.Tag.2.Value", uid, sizeof(uid));
        in = fake_add(f, id, "creating", uid);
        in->polls_until_available = 2;
        inst_xml(x, sizeof(x), in);
        snprintf(out, size, "<R><%sResult>%s</%sResult></R>", action, x, action);
        return;
    }
    if (strcmp(action, "DeleteDBInstance") == 0) {
        char fin[128], autob[16];
        form_get(body, "DBInstanceIdentifier", id, sizeof(id));
        if (!form_get(body, "DeleteAutomatedBackups", autob, sizeof(autob)))
            snprintf(autob, sizeof(autob), "unset");
        if (form_get(body, "FinalDBSnapshotIdentifier", fin, sizeof(fin)))
            fake_log(f, "DeleteDBInstance %s final=%s automated-backups-deleted=%s", id, fin,
                     autob);
        else
            fake_log(f, "DeleteDBInstance %s skip-final automated-backups-deleted=%s", id, autob);
        in = fake_find(f, id);
        if (in == NULL) {
            *status = 404;
            error_xml(out, size, "DBInstanceNotFound", "gone");
            return;
        }
        snprintf(in->status, sizeof(in->status), "deleting");
        inst_xml(x, sizeof(x), in);
        snprintf(out, size, "<R><DeleteDBInstanceResult>%s</DeleteDBInstanceResult></R>", x);
        return;
    }
    if (strcmp(action, "ModifyDBCluster") == 0) {
        char nid[64];
        form_get(body, "DBClusterIdentifier", id, sizeof(id));
        form_get(body, "NewDBClusterIdentifier", nid, sizeof(nid));
        fake_log(f, "ModifyDBCluster %s -> %s", id, nid);
        in = fake_find_cluster(f, id);
        if (in == NULL || fake_find_cluster(f, nid) != NULL) {
            *status = 400;
            error_xml(out, size, in ? "DBClusterAlreadyExistsFault" : "DBClusterNotFoundFault",
                      "no");
            return;
        }
        if (strcmp(in->status, "available") != 0) {
            *status = 400;
            error_xml(out, size, "InvalidDBClusterStateFault", "not available");
            return;
        }
        snprintf(in->status, sizeof(in->status), "renaming");
        if (f->rename_lag > 0) {
            snprintf(in->pending_id, sizeof(in->pending_id), "%s", nid);
            in->lag = f->rename_lag;
            in->polls_until_available = 0;
        } else {
            cluster_move(f, in, nid);
            in->polls_until_available = 2;
        }
        cluster_xml(x, sizeof(x), f, in);
        snprintf(out, size, "<R><ModifyDBClusterResult>%s</ModifyDBClusterResult></R>", x);
        return;
    }
    if (strcmp(action, "DeleteDBCluster") == 0) {
        char fin[128], autob[16];
        form_get(body, "DBClusterIdentifier", id, sizeof(id));
        form_get(body, "DeleteAutomatedBackups", autob, sizeof(autob));
        if (!form_get(body, "FinalDBSnapshotIdentifier", fin, sizeof(fin)))
            snprintf(fin, sizeof(fin), "none");
        fake_log(f, "DeleteDBCluster %s final=%s automated-backups-deleted=%s", id, fin, autob);
        in = fake_find_cluster(f, id);
        if (in == NULL) {
            *status = 404;
            error_xml(out, size, "DBClusterNotFoundFault", "gone");
            return;
        }
        for (int i = 0; i < FAKE_MAX; i++) {
            const fake_inst *m = &f->inst[i];
            if (m->used && !m->is_cluster && strcmp(m->cluster_id, id) == 0 &&
                strcmp(m->status, "deleting") != 0) {
                *status = 400;
                error_xml(out, size, "InvalidDBClusterStateFault", "members left");
                return;
            }
        }
        snprintf(in->status, sizeof(in->status), "deleting");
        cluster_xml(x, sizeof(x), f, in);
        snprintf(out, size, "<R><DeleteDBClusterResult>%s</DeleteDBClusterResult></R>", x);
        return;
    }
    if (strcmp(action, "CreateDBSnapshot") == 0) {
        char inst[64];
        form_get(body, "DBSnapshotIdentifier", id, sizeof(id));
        form_get(body, "DBInstanceIdentifier", inst, sizeof(inst));
        fake_log(f, "CreateDBSnapshot %s of %s", id, inst);
        fake_add_snap(f, id, inst, "creating", "manual", "2026-11-20T00:00:00Z");
        snprintf(out, size,
                 "<R><CreateDBSnapshotResult><DBSnapshot><DBSnapshotIdentifier>%s"
                 "</DBSnapshotIdentifier><Status>creating</Status></DBSnapshot>"
                 "</CreateDBSnapshotResult></R>",
                 id);
        return;
    }
    *status = 400;
    error_xml(out, size, "InvalidAction", action);
}

static void fake_serve_one(fake *f, int cfd)
{
    char *req = calloc(1, REQ_MAX + 1), *resp = malloc(REQ_MAX), head[256];
    size_t len = 0;
    char *end = NULL;
    long clen = 0;
    int status = 500;

    while (len < REQ_MAX) {
        ssize_t n = recv(cfd, req + len, REQ_MAX - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        req[len] = '\0';
        end = strstr(req, "\r\n\r\n");
        if (end != NULL) {
            char *cl = strcasestr(req, "\r\ncontent-length:");
            clen = (cl != NULL && cl < end) ? strtol(cl + 17, NULL, 10) : 0;
            if (len >= (size_t)(end - req) + 4 + (size_t)clen)
                break;
        }
    }
    pthread_mutex_lock(&f->lock);
    fake_handle(f, end ? end + 4 : "", &status, resp, REQ_MAX);
    pthread_mutex_unlock(&f->lock);
    if (status == 0) { /* the call may have been applied; no answer */
        shutdown(cfd, SHUT_RDWR);
        close(cfd);
        free(req);
        free(resp);
        return;
    }
    snprintf(head, sizeof(head),
             "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
             strlen(resp));
    send(cfd, head, strlen(head), MSG_NOSIGNAL);
    send(cfd, resp, strlen(resp), MSG_NOSIGNAL);
    shutdown(cfd, SHUT_WR);
    close(cfd);
    free(req);
    free(resp);
}

static void *fake_main(void *arg)
{
    fake *f = arg;
    for (;;) {
        int cfd = accept(f->fd, NULL, NULL);
        if (cfd < 0 || f->stop) {
            if (cfd >= 0)
                close(cfd);
            break;
        }
        fake_serve_one(f, cfd);
    }
    return NULL;
}

static void fake_start(fake *f)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int one = 1;

    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(f->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(f->fd, (struct sockaddr *)&a, sizeof(a));
    listen(f->fd, 16);
    getsockname(f->fd, (struct sockaddr *)&a, &alen);
    f->port = ntohs(a.sin_port);
    pthread_create(&f->thread, NULL, fake_main, f);
}

static void fake_stop(fake *f)
{
    struct sockaddr_in a;
    int fd;

    f->stop = 1;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)f->port);
    connect(fd, (struct sockaddr *)&a, sizeof(a));
    close(fd);
    pthread_join(f->thread, NULL);
    close(f->fd);
    pthread_mutex_destroy(&f->lock);
}

/* ---- fixture: a parsed RestoreRequest and a step context ------------------------- */

typedef struct fixture {
    fake srv;
    aws_client *aws;
    aws_credentials_provider *creds;
    json_t *rr, *status;
    api_restore_spec *spec;
    plan_step step;
    step_ctx ctx;
    step_result res;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    aws_client_options o;
    char url[64];

    fake_start(&f->srv);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", f->srv.port);
    if (aws_credentials_provider_new_static(&f->creds, "AKIDTEST", "SECRETTEST", NULL) != 0)
        abort();
    memset(&o, 0, sizeof(o));
    o.region = "us-east-1";
    o.endpoint_url = url;
    o.credentials = f->creds;
    o.max_attempts = 1;
    o.backoff_base_ms = 1;
    o.backoff_cap_ms = 2;
    if (aws_client_new(&f->aws, &o) != 0)
        abort();
    *state = f;
    return 0;
}

static void result_reset(fixture *f)
{
    json_decref(f->res.output);
    memset(&f->res, 0, sizeof(f->res));
}

static int teardown(void **state)
{
    fixture *f = *state;
    result_reset(f);
    api_restore_free(f->spec);
    json_decref(f->rr);
    json_decref(f->status);
    aws_client_free(f->aws);
    aws_credentials_provider_free(f->creds);
    fake_stop(&f->srv);
    free(f);
    return 0;
}

/* Parses the item JSON (one item "orders-db") and sets up ctx for action. */
static void load(fixture *f, const char *item_json, const char *status_json)
{
    char spec_text[4096];
    json_error_t jerr;
    json_t *spec;

    snprintf(spec_text, sizeof(spec_text), "{\"items\": [%s]}", item_json);
    spec = json_loads(spec_text, 0, &jerr);
    assert_non_null(spec);
    api_restore_free(f->spec);
    f->spec = NULL;
    if (api_restore_parse(&f->spec, NULL, spec, lb_time_now()) != 0)
        fail_msg("parse: %s", lb_error_last());
    json_decref(spec);
    json_decref(f->rr);
    f->rr = json_pack("{s:{s:s,s:s,s:s}}", "metadata", "name", "orders-restore", "namespace",
                      "shop", "uid", UID);
    json_decref(f->status);
    f->status = json_loads(status_json ? status_json : "{}", 0, &jerr);
    assert_non_null(f->status);
    memset(&f->ctx, 0, sizeof(f->ctx));
    f->ctx.aws = f->aws;
    f->ctx.rr = f->rr;
    f->ctx.status = f->status;
    f->ctx.spec = f->spec;
    f->ctx.item = &f->spec->items[0];
    f->ctx.step = &f->step;
    f->ctx.now = lb_time_now();
}

/* Runs fn with a step named "orders-db/<action>" and returns its rc. */
static int run(fixture *f, step_fn fn, const char *action)
{
    static char name[128];
    snprintf(name, sizeof(name), "orders-db/%s", action);
    f->step.name = name;
    f->step.item = (char *)"orders-db";
    f->step.action = (char *)action;
    result_reset(f);
    return fn(&f->res, &f->ctx);
}

/* Runs fn until it is not STEP_WAIT (bounded), merging outputs into status. */
static void run_until_settled(fixture *f, step_fn fn, const char *action, int max)
{
    for (int i = 0; i < max; i++) {
        assert_int_equal(run(f, fn, action), 0);
        if (f->res.verdict != STEP_WAIT)
            return;
        assert_true(f->res.requeue_ms > 0 && f->res.requeue_ms <= STEP_POLL_MS);
    }
    fail_msg("%s still waiting after %d calls: %s", action, max, f->res.message);
}

static const char *out_get(const fixture *f, const char *key)
{
    return json_string_value(json_object_get(f->res.output, key));
}

static void assert_log(const fake *s, const char *const *want, int n)
{
    for (int i = 0; i < n && i < s->nlog; i++)
        assert_string_equal(s->log[i], want[i]);
    if (s->nlog != n) {
        for (int i = 0; i < s->nlog; i++)
            print_message("  call %d: %s\n", i, s->log[i]);
        fail_msg("expected %d mutating calls, got %d", n, s->nlog);
    }
}

#define PIT_ITEM                                                                                   \
    "{\"name\": \"orders-db\", \"rdsPointInTime\": {\"sourceDBInstanceIdentifier\": \"shop\", "    \
    "\"useLatestRestorableTime\": true, \"targetDBInstanceIdentifier\": \"shop-restored\", "       \
    "\"dbInstanceClass\": \"db.r6g.large\", \"vpcSecurityGroupIds\": [\"sg-0123456789abcdef0\"]}"

#define PROMOTE_ITEM                                                                               \
    PIT_ITEM ", \"promote\": \"rename\", "                                                         \
             "\"cleanup\": {\"deleteOld\": true, \"after\": \"1h\"}}"

/* promote started 2026-11-20T10:00:00Z -> old name shop-old-20261120100000 */
#define PROMOTE_STATUS                                                                             \
    "{\"steps\": [{\"name\": \"orders-db/promote\", \"phase\": \"Running\", "                      \
    "\"startedAt\": \"2026-11-20T10:00:00Z\"}]}"

/* ---- validate / restore: adopt vs refuse --------------------------------------------- */

static void test_validate_refuses_unowned_target(void **state)
{
    fixture *f = *state;
    load(f, PIT_ITEM "}", NULL);
    fake_add(&f->srv, "shop", "available", NULL);
    fake_add(&f->srv, "shop-restored", "available", OTHER_UID);

    assert_int_equal(run(f, rds_step_validate, "validate"), 0);
    assert_int_equal(f->res.verdict, STEP_FAILED);
    assert_string_equal(f->res.reason, "TargetNotOwned");
    assert_non_null(strstr(f->res.message, "shop-restored"));
    assert_non_null(strstr(f->res.message, "not touched"));
    /* the restore step refuses it the same way, without any mutating call */
    assert_int_equal(run(f, rds_step_restore, "restore"), 0);
    assert_string_equal(f->res.reason, "TargetNotOwned");
    assert_int_equal(f->srv.nlog, 0);
}

static void test_validate_and_restore_adopt_owned_target(void **state)
{
    fixture *f = *state;
    load(f, PIT_ITEM "}", NULL);
    fake_add(&f->srv, "shop", "available", NULL);
    fake_add(&f->srv, "shop-restored", "creating", UID);

    assert_int_equal(run(f, rds_step_validate, "validate"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_non_null(strstr(f->res.message, "adopted"));
    assert_int_equal(run(f, rds_step_restore, "restore"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_string_equal(out_get(f, "instanceIdentifier"), "shop-restored");
    assert_int_equal(f->srv.nlog, 0); /* adopted: no second restore */
}

static void test_validate_missing_source(void **state)
{
    fixture *f = *state;
    load(f, PIT_ITEM "}", NULL);
    assert_int_equal(run(f, rds_step_validate, "validate"), 0);
    assert_int_equal(f->res.verdict, STEP_FAILED);
    assert_string_equal(f->res.reason, "SourceNotFound");
    assert_non_null(strstr(f->res.message, "shop"));
}

static void test_restore_sends_options_and_tags_then_waits(void **state)
{
    fixture *f = *state;
    char v[256];
    static const char *const want[] = {"RestoreDBInstanceToPointInTime shop-restored"};

    load(f, PIT_ITEM "}", NULL);
    fake_add(&f->srv, "shop", "available", NULL);
    assert_int_equal(run(f, rds_step_restore, "restore"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_log(&f->srv, want, 1);
    form_get(f->srv.last_form, "UseLatestRestorableTime", v, sizeof(v));
    assert_string_equal(v, "true");
    form_get(f->srv.last_form, "DBInstanceClass", v, sizeof(v));
    assert_string_equal(v, "db.r6g.large");
    form_get(f->srv.last_form, "VpcSecurityGroupIds.VpcSecurityGroupId.1", v, sizeof(v));
    assert_string_equal(v, "sg-0123456789abcdef0");
    form_get(f->srv.last_form, "PubliclyAccessible", v, sizeof(v));
    assert_string_equal(v, "false"); /* the CRD default, sent explicitly */
    form_get(f->srv.last_form, "Tags.Tag.1.Value", v, sizeof(v));
    assert_string_equal(v, "RestoreRequest/shop/orders-restore");
    form_get(f->srv.last_form, "Tags.Tag.2.Value", v, sizeof(v));
    assert_string_equal(v, UID);

    /* a second call (crash after the restore call) adopts instead of restoring again */
    assert_int_equal(run(f, rds_step_restore, "restore"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_int_equal(f->srv.nlog, 1);

    /* wait-available polls, then reports the endpoint */
    run_until_settled(f, rds_step_wait_available, "wait-available", 5);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_string_equal(out_get(f, "endpoint"), "127.0.0.1");
    assert_true(json_integer_value(json_object_get(f->res.output, "port")) > 0);
}

static void test_restore_aws_error_names_code(void **state)
{
    fixture *f = *state;
    load(f, PIT_ITEM "}", NULL);
    fake_add(&f->srv, "shop", "available", NULL);
    f->srv.fail_action = "RestoreDBInstanceToPointInTime";
    f->srv.fail_status = 400;
    f->srv.fail_code = "InvalidRestoreFault";
    assert_int_equal(run(f, rds_step_restore, "restore"), 0);
    assert_int_equal(f->res.verdict, STEP_FAILED);
    assert_string_equal(f->res.reason, "InvalidRestoreFault");
    assert_true(strncmp(f->res.message, "InvalidRestoreFault: ", 21) == 0);
    assert_non_null(strstr(f->res.message, "the window is"));
}

static void pit_item_at(char *buf, size_t size, lb_time t)
{
    char when[40];
    lb_time_format(when, sizeof(when), t, LB_TIME_FRAC_AUTO);
    snprintf(buf, size,
             "{\"name\": \"orders-db\", \"rdsPointInTime\": {\"sourceDBInstanceIdentifier\": "
             "\"shop\", \"restoreTime\": \"%s\", \"targetDBInstanceIdentifier\": "
             "\"shop-restored\"}}",
             when);
}

static void test_validate_restore_time_before_window(void **state)
{
    fixture *f = *state;
    char item[512];
    lb_time t;
    lb_time_parse_rfc3339(&t,
                          "2025-12-31T23:00:00Z"); /* the fake instance was created 2026-01-01 */
    pit_item_at(item, sizeof(item), t);
    load(f, item, NULL);
    fake_add(&f->srv, "shop", "available", NULL);
    assert_int_equal(run(f, rds_step_validate, "validate"), 0);
    assert_int_equal(f->res.verdict, STEP_FAILED);
    assert_string_equal(f->res.reason, "RestoreTimeOutOfWindow");
    assert_non_null(strstr(f->res.message, "2025-12-31T23:00:00Z"));
    assert_non_null(strstr(f->res.message, "2026-01-01T00:00:00Z"));
}

static void test_restore_recent_time_retries_invalid_restore(void **state)
{
    fixture *f = *state;
    char item[512];
    static const char *const want[] = {"RestoreDBInstanceToPointInTime shop-restored"};
    lb_time t = lb_time_now();
    /* 20 s ago: past the fake's LatestRestorableTime, as on RDS right after a
     * commit; with a fraction, which must be sent as given, not truncated */
    t.sec -= 20;
    t.nsec = 329826000;
    pit_item_at(item, sizeof(item), t);
    load(f, item, NULL);
    fake_add(&f->srv, "shop", "available", NULL);
    /* validate leaves the decision to RDS */
    assert_int_equal(run(f, rds_step_validate, "validate"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    f->srv.fail_action = "RestoreDBInstanceToPointInTime";
    f->srv.fail_status = 400;
    f->srv.fail_code = "InvalidRestoreFault";
    assert_int_equal(run(f, rds_step_restore, "restore"), 0);
    assert_int_equal(f->res.verdict, STEP_WAIT);
    assert_non_null(strstr(f->res.message, "InvalidRestoreFault"));
    assert_int_equal(run(f, rds_step_restore, "restore"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_log(&f->srv, want, 1);
    {
        char sent[64], when[64];
        lb_time_format(when, sizeof(when), t, 6);
        form_get(f->srv.last_form, "RestoreTime", sent, sizeof(sent));
        assert_string_equal(sent, when);
        assert_non_null(strstr(sent, ".329826Z"));
    }
    /* the same refusal for a time long past fails the step */
    f->ctx.now.sec += 3600;
    fake_find(&f->srv, "shop-restored")->used = 0;
    f->srv.fail_action = "RestoreDBInstanceToPointInTime";
    assert_int_equal(run(f, rds_step_restore, "restore"), 0);
    assert_int_equal(f->res.verdict, STEP_FAILED);
    assert_string_equal(f->res.reason, "InvalidRestoreFault");
}

static void test_restore_throttled_is_transient(void **state)
{
    fixture *f = *state;
    load(f, PIT_ITEM "}", NULL);
    fake_add(&f->srv, "shop", "available", NULL);
    f->srv.fail_action = "RestoreDBInstanceToPointInTime";
    f->srv.fail_status = 400;
    f->srv.fail_code = "Throttling";
    assert_true(run(f, rds_step_restore, "restore") < 0);
    assert_non_null(strstr(lb_error_last(), "Throttling"));
}

/* ---- snapshots: latestFrom ----------------------------------------------------------- */

static void test_latest_from_picks_newest_available(void **state)
{
    fixture *f = *state;
    load(f,
         "{\"name\": \"orders-db\", \"rdsSnapshot\": {\"latestFrom\": {\"dbInstanceIdentifier\": "
         "\"shop\", \"snapshotType\": \"any\"}, \"targetDBInstanceIdentifier\": \"shop-snap\"}}",
         NULL);
    fake_add_snap(&f->srv, "snap-old", "shop", "available", "manual", "2026-11-18T10:00:00Z");
    fake_add_snap(&f->srv, "rds:shop-2026-11-19-10-00", "shop", "available", "automated",
                  "2026-11-19T10:00:00Z");
    fake_add_snap(&f->srv, "snap-creating", "shop", "creating", "manual", "2026-11-20T10:00:00Z");
    fake_add_snap(&f->srv, "other-newest", "other", "available", "manual", "2026-11-20T11:00:00Z");
    assert_int_equal(run(f, rds_step_validate, "validate"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_string_equal(out_get(f, "snapshotIdentifier"), "rds:shop-2026-11-19-10-00");

    /* manual only: the older manual one */
    load(f,
         "{\"name\": \"orders-db\", \"rdsSnapshot\": {\"latestFrom\": {\"dbInstanceIdentifier\": "
         "\"shop\", \"snapshotType\": \"manual\"}, \"targetDBInstanceIdentifier\": \"shop-snap\"}}",
         NULL);
    assert_int_equal(run(f, rds_step_validate, "validate"), 0);
    assert_string_equal(out_get(f, "snapshotIdentifier"), "snap-old");

    /* restore uses the recorded choice, not a newer one made available since */
    load(f,
         "{\"name\": \"orders-db\", \"rdsSnapshot\": {\"latestFrom\": {\"dbInstanceIdentifier\": "
         "\"shop\"}, \"targetDBInstanceIdentifier\": \"shop-snap\"}}",
         "{\"outputs\": [{\"item\": \"orders-db\", \"snapshotIdentifier\": \"snap-old\"}]}");
    assert_int_equal(run(f, rds_step_restore, "restore"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    {
        char v[128];
        form_get(f->srv.last_form, "DBSnapshotIdentifier", v, sizeof(v));
        assert_string_equal(v, "snap-old");
    }
}

static void test_latest_from_none_available(void **state)
{
    fixture *f = *state;
    load(f,
         "{\"name\": \"orders-db\", \"rdsSnapshot\": {\"latestFrom\": {\"dbInstanceIdentifier\": "
         "\"shop\"}, \"targetDBInstanceIdentifier\": \"shop-snap\"}}",
         NULL);
    fake_add_snap(&f->srv, "snap-creating", "shop", "creating", "manual", "2026-11-20T10:00:00Z");
    assert_int_equal(run(f, rds_step_validate, "validate"), 0);
    assert_int_equal(f->res.verdict, STEP_FAILED);
    assert_string_equal(f->res.reason, "SnapshotNotFound");
}

/* ---- promote from every intermediate state ------------------------------------------ */

static void check_promoted(fixture *f)
{
    fake_inst *s = fake_find(&f->srv, "shop");
    fake_inst *o = fake_find(&f->srv, "shop-old-20261120100000");
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_string_equal(out_get(f, "instanceIdentifier"), "shop");
    assert_string_equal(out_get(f, "replacedInstanceIdentifier"), "shop-old-20261120100000");
    assert_string_equal(out_get(f, "endpoint"), "127.0.0.1");
    assert_non_null(s);
    assert_non_null(o);
    assert_null(fake_find(&f->srv, "shop-restored"));
    assert_string_equal(s->tags[1].value, UID); /* the restored copy answers as shop */
    assert_int_equal(json_integer_value(json_object_get(f->res.output, "port")), s->port);
}

static void test_promote_from_source_and_target(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {
        "AddTagsToResource shop lifeboat.dev/renamed-by=UID",
        "ModifyDBInstance shop -> shop-old-20261120100000",
        "ModifyDBInstance shop-restored -> shop",
    };
    load(f, PROMOTE_ITEM, PROMOTE_STATUS);
    fake_add(&f->srv, "shop", "available", NULL);
    fake_add(&f->srv, "shop-restored", "available", UID);
    run_until_settled(f, rds_step_promote, "promote", 12);
    check_promoted(f);
    assert_log(&f->srv, want, 3);
}

static void test_promote_from_old_and_target(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {"ModifyDBInstance shop-restored -> shop"};
    fake_inst *o;
    load(f, PROMOTE_ITEM, PROMOTE_STATUS);
    o = fake_add(&f->srv, "shop-old-20261120100000", "renaming", NULL);
    o->polls_until_available = 2;
    tag_set(o, "lifeboat.dev/renamed-by", UID);
    fake_add(&f->srv, "shop-restored", "available", UID);
    run_until_settled(f, rds_step_promote, "promote", 12);
    check_promoted(f);
    assert_log(&f->srv, want, 1);
}

static void test_promote_from_old_and_source(void **state)
{
    fixture *f = *state;
    fake_inst *o, *s;
    load(f, PROMOTE_ITEM, PROMOTE_STATUS);
    o = fake_add(&f->srv, "shop-old-20261120100000", "available", NULL);
    tag_set(o, "lifeboat.dev/renamed-by", UID);
    s = fake_add(&f->srv, "shop", "renaming", UID);
    s->polls_until_available = 2;
    run_until_settled(f, rds_step_promote, "promote", 12);
    check_promoted(f);
    assert_int_equal(f->srv.nlog, 0);
}

static void test_promote_refuses_foreign_old(void **state)
{
    fixture *f = *state;
    load(f, PROMOTE_ITEM, PROMOTE_STATUS);
    fake_add(&f->srv, "shop-old-20261120100000", "available", NULL); /* not renamed by us */
    fake_add(&f->srv, "shop-restored", "available", UID);
    assert_int_equal(run(f, rds_step_promote, "promote"), 0);
    assert_int_equal(f->res.verdict, STEP_FAILED);
    assert_string_equal(f->res.reason, "TargetNotOwned");
    assert_int_equal(f->srv.nlog, 0);
}

static void test_promote_undo_restores_names(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {
        "AddTagsToResource shop lifeboat.dev/renamed-by=UID",
        "ModifyDBInstance shop -> shop-old-20261120100000",
        "ModifyDBInstance shop-restored -> shop",
        "ModifyDBInstance shop -> shop-restored",
        "ModifyDBInstance shop-old-20261120100000 -> shop",
    };
    fake_inst *orig;
    load(f, PROMOTE_ITEM, PROMOTE_STATUS);
    orig = fake_add(&f->srv, "shop", "available", NULL);
    fake_add(&f->srv, "shop-restored", "available", UID);
    run_until_settled(f, rds_step_promote, "promote", 12);
    assert_int_equal(f->res.verdict, STEP_DONE);
    f->ctx.rollback = 1;
    run_until_settled(f, rds_step_promote_undo, "promote", 12);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_log(&f->srv, want, 5);
    assert_ptr_equal(fake_find(&f->srv, "shop"), orig); /* the original is back */
    assert_non_null(fake_find(&f->srv, "shop-restored"));
    assert_null(fake_find(&f->srv, "shop-old-20261120100000"));
}

/* ---- cleanup waits for `after` -------------------------------------------------------- */

static void test_cleanup_waits_for_after(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {
        "DeleteDBInstance shop-old-20261120100000 final=shop-old-20261120100000-final "
        "automated-backups-deleted=false",
    };
    fake_inst *o;
    lb_time done;

    load(f, PROMOTE_ITEM,
         "{\"steps\": [{\"name\": \"orders-db/promote\", \"phase\": \"Succeeded\", "
         "\"startedAt\": \"2026-11-20T10:00:00Z\", \"finishedAt\": \"2026-11-20T10:05:00Z\"}]}");
    o = fake_add(&f->srv, "shop-old-20261120100000", "available", NULL);
    tag_set(o, "lifeboat.dev/renamed-by", UID);
    lb_time_parse_rfc3339(&done, "2026-11-20T10:05:00Z");

    f->ctx.now = (lb_time){done.sec + 600, 0}; /* 10 of 60 minutes passed */
    assert_int_equal(run(f, rds_step_cleanup, "cleanup"), 0);
    assert_int_equal(f->res.verdict, STEP_WAIT);
    assert_int_equal(f->res.requeue_ms, 3000 * 1000); /* the 50 minutes left */
    assert_int_equal(f->srv.calls, 0);                /* nothing looked at, nothing deleted */

    f->ctx.now = (lb_time){done.sec + 3600, 0};
    assert_int_equal(run(f, rds_step_cleanup, "cleanup"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_string_equal(out_get(f, "snapshotIdentifier"), "shop-old-20261120100000-final");
    assert_log(&f->srv, want, 1);
    /* again (crash after the call): the old instance is deleting, no second delete */
    assert_int_equal(run(f, rds_step_cleanup, "cleanup"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_int_equal(f->srv.nlog, 1);
}

static void test_cleanup_refuses_untagged_old(void **state)
{
    fixture *f = *state;
    load(f, PROMOTE_ITEM,
         "{\"steps\": [{\"name\": \"orders-db/promote\", \"phase\": \"Succeeded\", "
         "\"startedAt\": \"2026-11-20T10:00:00Z\", \"finishedAt\": \"2026-11-20T10:05:00Z\"}]}");
    fake_add(&f->srv, "shop-old-20261120100000", "available", NULL);
    f->ctx.now = lb_time_now();
    assert_int_equal(run(f, rds_step_cleanup, "cleanup"), 0);
    assert_int_equal(f->res.verdict, STEP_FAILED);
    assert_string_equal(f->res.reason, "TargetNotOwned");
    assert_null(f->res.output);
    assert_int_equal(f->srv.nlog, 0);
}

/* ---- in place ---------------------------------------------------------------------- */

#define IN_PLACE_ITEM                                                                              \
    "{\"name\": \"orders-db\", \"rdsInPlace\": {\"dbInstanceIdentifier\": \"shop\", "              \
    "\"latest\": true}}"
#define IN_PLACE_STATUS                                                                            \
    "{\"steps\": [{\"name\": \"orders-db/pre-restore-snapshot\", \"phase\": \"Running\", "         \
    "\"startedAt\": \"2026-11-20T09:00:00Z\"}], \"outputs\": [{\"item\": \"orders-db\", "          \
    "\"snapshotIdentifier\": \"snap-a\"}]}"

static void test_in_place_sequence(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {
        "CreateDBSnapshot shop-pre-restore-20261120090000 of shop",
        "DeleteDBInstance shop skip-final automated-backups-deleted=false",
        "RestoreDBInstanceFromDBSnapshot shop",
    };
    fake_inst *orig;
    load(f, IN_PLACE_ITEM, IN_PLACE_STATUS);
    orig = fake_add(&f->srv, "shop", "available", NULL);
    fake_add_snap(&f->srv, "snap-a", "shop", "available", "manual", "2026-11-19T00:00:00Z");

    /* delete refuses before the safety snapshot exists */
    assert_int_equal(run(f, rds_step_delete, "delete"), 0);
    assert_int_equal(f->res.verdict, STEP_FAILED);
    assert_string_equal(f->res.reason, "SnapshotNotAvailable");
    assert_int_equal(f->srv.nlog, 0);

    assert_int_equal(run(f, rds_step_pre_restore_snapshot, "pre-restore-snapshot"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_int_equal(run(f, rds_step_pre_restore_snapshot, "pre-restore-snapshot"), 0);
    assert_int_equal(f->srv.nlog, 1); /* exists: not taken twice */
    assert_int_equal(run(f, rds_step_wait_snapshot, "wait-snapshot"), 0);
    assert_int_equal(f->res.verdict, STEP_WAIT);
    snprintf(fake_find_snap(&f->srv, "shop-pre-restore-20261120090000")->status, 32, "available");
    assert_int_equal(run(f, rds_step_wait_snapshot, "wait-snapshot"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);

    assert_int_equal(run(f, rds_step_delete, "delete"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_int_equal(run(f, rds_step_wait_deleted, "wait-deleted"), 0);
    assert_int_equal(f->res.verdict, STEP_WAIT);
    /* restore refuses to act while the original is still deleting */
    assert_int_equal(run(f, rds_step_restore_in_place, "restore"), 0);
    assert_int_equal(f->res.verdict, STEP_WAIT);
    orig->used = 0; /* gone */
    assert_int_equal(run(f, rds_step_wait_deleted, "wait-deleted"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_int_equal(run(f, rds_step_restore_in_place, "restore"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    {
        char v[128];
        form_get(f->srv.last_form, "DBSnapshotIdentifier", v, sizeof(v));
        assert_string_equal(v, "snap-a"); /* the snapshot chosen at validate */
    }
    /* a repeated delete never deletes the restored copy */
    assert_int_equal(run(f, rds_step_delete, "delete"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_log(&f->srv, want, 3);
}

/* ---- ambiguous failures, rename lag, terminal statuses, automated backups ---------- */

/* Like run_until_settled, but a transient failure (a negative rc, which the engine
 * counts and retries) is allowed; returns how many there were. */
static int run_until_settled_transient(fixture *f, step_fn fn, const char *action, int max)
{
    int transient = 0;
    for (int i = 0; i < max; i++) {
        int rc = run(f, fn, action);
        if (rc != 0) {
            transient++;
            continue;
        }
        if (f->res.verdict != STEP_WAIT)
            return transient;
    }
    fail_msg("%s not settled after %d calls: %s", action, max, f->res.message);
    return transient;
}

/* The next `action` is applied by the fake, then answered with status (0: the
 * connection is dropped). */
static void scripted_failure(fixture *f, const char *action, int status)
{
    f->srv.fail_action = action;
    f->srv.fail_apply = 1;
    f->srv.fail_status = status;
    f->srv.fail_code = "InternalFailure";
}

static void test_restore_applied_then_500_is_adopted_not_resent(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {"RestoreDBInstanceToPointInTime shop-restored"};
    load(f, PIT_ITEM "}", NULL);
    fake_add(&f->srv, "shop", "available", NULL);
    scripted_failure(f, "RestoreDBInstanceToPointInTime", 500);
    assert_int_equal(run(f, rds_step_restore, "restore"), LB_EAMBIGUOUS);
    assert_int_not_equal(f->res.verdict, STEP_FAILED);
    assert_non_null(strstr(lb_error_last(), "may have been applied"));
    assert_int_equal(run(f, rds_step_restore, "restore"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_non_null(strstr(f->res.message, "adopted"));
    assert_log(&f->srv, want, 1);
}

static void test_restore_applied_then_dropped_is_adopted_not_resent(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {"RestoreDBInstanceToPointInTime shop-restored"};
    load(f, PIT_ITEM "}", NULL);
    fake_add(&f->srv, "shop", "available", NULL);
    scripted_failure(f, "RestoreDBInstanceToPointInTime", 0);
    assert_int_equal(run(f, rds_step_restore, "restore"), LB_EAMBIGUOUS);
    assert_int_equal(run(f, rds_step_restore, "restore"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_log(&f->srv, want, 1);
}

static void test_promote_rename_applied_then_500_is_not_resent(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {
        "AddTagsToResource shop lifeboat.dev/renamed-by=UID",
        "ModifyDBInstance shop -> shop-old-20261120100000",
        "ModifyDBInstance shop-restored -> shop",
    };
    load(f, PROMOTE_ITEM, PROMOTE_STATUS);
    fake_add(&f->srv, "shop", "available", NULL);
    fake_add(&f->srv, "shop-restored", "available", UID);
    scripted_failure(f, "ModifyDBInstance", 500);
    assert_int_equal(run_until_settled_transient(f, rds_step_promote, "promote", 12), 1);
    check_promoted(f);
    assert_log(&f->srv, want, 3);
}

/* RDS ARNs carry the identifier: a rename landing between the describe and the
 * tag read answers not-found. Not "someone else's": described again, then promoted. */
static void test_promote_tags_gone_between_describe_and_read_is_retried(void **state)
{
    fixture *f = *state;
    load(f, PROMOTE_ITEM, PROMOTE_STATUS);
    fake_add(&f->srv, "shop", "available", NULL);
    fake_add(&f->srv, "shop-restored", "available", UID);
    f->srv.fail_action = "ListTagsForResource";
    f->srv.fail_apply = 0;
    f->srv.fail_status = 404;
    f->srv.fail_code = "DBInstanceNotFound";
    assert_int_equal(run_until_settled_transient(f, rds_step_promote, "promote", 12), 1);
    check_promoted(f);
}

static void test_promote_second_rename_dropped_is_adopted(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {
        "AddTagsToResource shop lifeboat.dev/renamed-by=UID",
        "ModifyDBInstance shop -> shop-old-20261120100000",
        "ModifyDBInstance shop-restored -> shop",
    };
    fake_inst *o;
    load(f, PROMOTE_ITEM, PROMOTE_STATUS);
    fake_add(&f->srv, "shop", "available", NULL);
    fake_add(&f->srv, "shop-restored", "available", UID);
    assert_int_equal(run(f, rds_step_promote, "promote"), 0); /* phase 1 */
    assert_int_equal(f->res.verdict, STEP_WAIT);
    o = fake_find(&f->srv, "shop-old-20261120100000");
    assert_non_null(o);
    assert_string_equal(o->status, "renaming");
    /* phase 2 starts while the old instance is still renaming: its name is free */
    scripted_failure(f, "ModifyDBInstance", 0);
    assert_int_equal(run(f, rds_step_promote, "promote"), LB_EAMBIGUOUS);
    assert_int_equal(run_until_settled_transient(f, rds_step_promote, "promote", 12), 0);
    check_promoted(f);
    assert_log(&f->srv, want, 3);
}

static void test_promote_and_undo_wait_through_rename_lag(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {
        "AddTagsToResource shop lifeboat.dev/renamed-by=UID",
        "ModifyDBInstance shop -> shop-old-20261120100000",
        "ModifyDBInstance shop-restored -> shop",
        "ModifyDBInstance shop -> shop-restored",
        "ModifyDBInstance shop-old-20261120100000 -> shop",
    };
    fake_inst *orig;
    load(f, PROMOTE_ITEM, PROMOTE_STATUS);
    orig = fake_add(&f->srv, "shop", "available", NULL);
    fake_add(&f->srv, "shop-restored", "available", UID);
    f->srv.rename_lag = 4; /* each rename keeps the old name for 4 describes */
    run_until_settled(f, rds_step_promote, "promote", 30);
    check_promoted(f);
    f->ctx.rollback = 1;
    run_until_settled(f, rds_step_promote_undo, "promote", 30);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_log(&f->srv, want, 5);
    assert_ptr_equal(fake_find(&f->srv, "shop"), orig);
    assert_non_null(fake_find(&f->srv, "shop-restored"));
}

static void test_terminal_status_fails_at_once(void **state)
{
    fixture *f = *state;
    fake_inst *t;
    load(f, PROMOTE_ITEM, PROMOTE_STATUS);
    fake_add(&f->srv, "shop", "available", NULL);
    t = fake_add(&f->srv, "shop-restored", "incompatible-restore", UID);
    assert_int_equal(run(f, rds_step_promote, "promote"), 0);
    assert_int_equal(f->res.verdict, STEP_FAILED);
    assert_string_equal(f->res.reason, "InstanceNotAvailable");
    assert_non_null(strstr(f->res.message, "incompatible-restore"));
    assert_int_equal(f->srv.nlog, 0);
    snprintf(t->status, sizeof(t->status), "storage-full");
    assert_int_equal(run(f, rds_step_wait_available, "wait-available"), 0);
    assert_int_equal(f->res.verdict, STEP_FAILED);
    assert_non_null(strstr(f->res.message, "storage-full"));
}

static void test_promote_conflict_is_read_twice(void **state)
{
    fixture *f = *state;
    load(f, PROMOTE_ITEM, PROMOTE_STATUS);
    fake_add(&f->srv, "shop", "available", UID);
    fake_add(&f->srv, "shop-restored", "available", UID);
    assert_int_equal(run(f, rds_step_promote, "promote"), 0);
    assert_int_equal(f->res.verdict, STEP_FAILED);
    assert_string_equal(f->res.reason, "PromoteConflict");
    /* two looks, each 3 describes + 2 tag reads */
    assert_int_equal(f->srv.calls, 10);
    assert_int_equal(f->srv.nlog, 0);
}

#define CLEANUP_DONE_STATUS                                                                        \
    "{\"steps\": [{\"name\": \"orders-db/promote\", \"phase\": \"Succeeded\", "                    \
    "\"startedAt\": \"2026-11-20T10:00:00Z\", \"finishedAt\": \"2026-11-20T10:05:00Z\"}]}"

static void test_cleanup_delete_applied_then_500_is_not_resent(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {
        "DeleteDBInstance shop-old-20261120100000 final=shop-old-20261120100000-final "
        "automated-backups-deleted=false",
    };
    fake_inst *o;
    load(f, PROMOTE_ITEM, CLEANUP_DONE_STATUS);
    o = fake_add(&f->srv, "shop-old-20261120100000", "available", NULL);
    tag_set(o, "lifeboat.dev/renamed-by", UID);
    f->ctx.now = lb_time_now();
    scripted_failure(f, "DeleteDBInstance", 500);
    assert_int_equal(run(f, rds_step_cleanup, "cleanup"), LB_EAMBIGUOUS);
    assert_int_equal(run(f, rds_step_cleanup, "cleanup"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_non_null(strstr(f->res.message, "is deleting"));
    assert_log(&f->srv, want, 1);
}

static void test_cleanup_delete_automated_backups_from_spec(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {
        "DeleteDBInstance shop-old-20261120100000 skip-final automated-backups-deleted=true",
    };
    fake_inst *o;
    load(f,
         PIT_ITEM ", \"promote\": \"rename\", \"cleanup\": {\"deleteOld\": true, \"after\": "
                  "\"1h\", \"finalSnapshot\": false, \"deleteAutomatedBackups\": true}}",
         CLEANUP_DONE_STATUS);
    o = fake_add(&f->srv, "shop-old-20261120100000", "available", NULL);
    tag_set(o, "lifeboat.dev/renamed-by", UID);
    f->ctx.now = lb_time_now();
    assert_int_equal(run(f, rds_step_cleanup, "cleanup"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_log(&f->srv, want, 1);
}

static void test_cleanup_deletes_what_promote_recorded(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {
        "DeleteDBInstance shop-old-20261120100000 final=shop-old-20261120100000-final "
        "automated-backups-deleted=false",
    };
    fake_inst *o;
    /* The snapshot the copy came from is gone: cleanup must not need it. */
    load(f,
         "{\"name\": \"orders-db\", \"rdsSnapshot\": {\"dbSnapshotIdentifier\": \"snap-gone\", "
         "\"targetDBInstanceIdentifier\": \"shop-restored\"}, \"promote\": \"rename\", "
         "\"cleanup\": {\"deleteOld\": true, \"after\": \"1h\"}}",
         "{\"steps\": [{\"name\": \"orders-db/promote\", \"phase\": \"Succeeded\", "
         "\"startedAt\": \"2026-11-20T10:00:00Z\", \"finishedAt\": \"2026-11-20T10:05:00Z\"}], "
         "\"outputs\": [{\"item\": \"orders-db\", \"instanceIdentifier\": \"shop\", "
         "\"replacedInstanceIdentifier\": \"shop-old-20261120100000\"}]}");
    o = fake_add(&f->srv, "shop-old-20261120100000", "available", NULL);
    tag_set(o, "lifeboat.dev/renamed-by", UID);
    f->ctx.now = lb_time_now();
    assert_int_equal(run(f, rds_step_cleanup, "cleanup"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_log(&f->srv, want, 1);
}

/* ---- Aurora: cluster promote, undo and cleanup (issue 18 item 4) ----------------------- */

#define CLUSTER_ITEM                                                                               \
    "{\"name\": \"orders-db\", \"rdsClusterPointInTime\": {\"sourceDBClusterIdentifier\": "        \
    "\"loans\", \"useLatestRestorableTime\": true, \"targetDBClusterIdentifier\": "                \
    "\"loans-restored\", \"writerInstanceClass\": \"db.r6g.large\"}, \"promote\": \"rename\", "    \
    "\"cleanup\": {\"deleteOld\": true, \"after\": \"1s\"}}"
#define CLUSTER_CLEANUP_STATUS                                                                     \
    "{\"steps\": [{\"name\": \"orders-db/promote\", \"phase\": \"Succeeded\", "                    \
    "\"startedAt\": \"2026-11-20T10:00:00Z\", \"finishedAt\": \"2026-11-20T10:05:00Z\"}]}"

static void test_cluster_promote_and_undo_rename_clusters(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {
        "AddTagsToResource loans lifeboat.dev/renamed-by=UID",
        "ModifyDBCluster loans -> loans-old-20261120100000",
        "ModifyDBCluster loans-restored -> loans",
        "ModifyDBCluster loans -> loans-restored",
        "ModifyDBCluster loans-old-20261120100000 -> loans",
    };
    fake_inst *orig, *copy;
    load(f, CLUSTER_ITEM, PROMOTE_STATUS);
    orig = fake_add_cluster(&f->srv, "loans", "available", NULL, "loans-writer");
    copy = fake_add_cluster(&f->srv, "loans-restored", "available", UID, "loans-restored-writer");
    run_until_settled(f, rds_step_promote, "promote", 12);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_ptr_equal(fake_find_cluster(&f->srv, "loans"), copy);
    assert_ptr_equal(fake_find_cluster(&f->srv, "loans-old-20261120100000"), orig);
    assert_string_equal(out_get(f, "clusterIdentifier"), "loans");
    assert_string_equal(out_get(f, "replacedClusterIdentifier"), "loans-old-20261120100000");
    assert_string_equal(out_get(f, "endpoint"), "loans.cluster-x"); /* follows the name */
    assert_int_equal(json_integer_value(json_object_get(f->res.output, "port")), copy->port);
    /* the instances keep their names; membership follows the clusters */
    assert_string_equal(fake_find(&f->srv, "loans-restored-writer")->cluster_id, "loans");
    assert_string_equal(fake_find(&f->srv, "loans-writer")->cluster_id, "loans-old-20261120100000");
    f->ctx.rollback = 1;
    run_until_settled(f, rds_step_promote_undo, "promote", 12);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_log(&f->srv, want, 5);
    assert_ptr_equal(fake_find_cluster(&f->srv, "loans"), orig);
    assert_ptr_equal(fake_find_cluster(&f->srv, "loans-restored"), copy);
    assert_null(fake_find_cluster(&f->srv, "loans-old-20261120100000"));
}

static void test_cluster_promote_through_rename_lag_and_applied_then_500(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {
        "AddTagsToResource loans lifeboat.dev/renamed-by=UID",
        "ModifyDBCluster loans -> loans-old-20261120100000",
        "ModifyDBCluster loans-restored -> loans",
    };
    load(f, CLUSTER_ITEM, PROMOTE_STATUS);
    fake_add_cluster(&f->srv, "loans", "available", NULL, NULL);
    fake_add_cluster(&f->srv, "loans-restored", "available", UID, NULL);
    f->srv.rename_lag = 3; /* the old name answers `renaming` for 3 describes */
    scripted_failure(f, "ModifyDBCluster", 500);
    assert_int_equal(run_until_settled_transient(f, rds_step_promote, "promote", 30), 1);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_log(&f->srv, want, 3); /* each rename sent once */
    assert_string_equal(out_get(f, "clusterIdentifier"), "loans");
}

static void test_cluster_promote_refuses_foreign_target(void **state)
{
    fixture *f = *state;
    load(f, CLUSTER_ITEM, PROMOTE_STATUS);
    fake_add_cluster(&f->srv, "loans", "available", NULL, NULL);
    fake_add_cluster(&f->srv, "loans-restored", "available", OTHER_UID, NULL);
    assert_int_equal(run(f, rds_step_promote, "promote"), 0);
    assert_int_equal(f->res.verdict, STEP_FAILED);
    assert_string_equal(f->res.reason, "TargetNotOwned");
    assert_non_null(strstr(f->res.message, "DB cluster loans-restored"));
    assert_int_equal(f->srv.nlog, 0);
}

static void test_cluster_cleanup_deletes_members_then_cluster_once(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {
        "DeleteDBInstance loans-writer skip-final automated-backups-deleted=false",
        "DeleteDBCluster loans-old-20261120100000 final=loans-old-20261120100000-final "
        "automated-backups-deleted=false",
    };
    fake_inst *old;
    load(f, CLUSTER_ITEM, CLUSTER_CLEANUP_STATUS);
    old = fake_add_cluster(&f->srv, "loans-old-20261120100000", "available", NULL, NULL);
    fake_add(&f->srv, "loans-writer", "available", NULL);
    snprintf(fake_find(&f->srv, "loans-writer")->cluster_id, 64, "%s", old->id);
    tag_set(old, "lifeboat.dev/renamed-by", UID);
    f->ctx.now = lb_time_now();
    /* the member is deleted first; the cluster waits for it */
    assert_int_equal(run(f, rds_step_cleanup, "cleanup"), 0);
    assert_int_equal(f->res.verdict, STEP_WAIT);
    assert_non_null(strstr(f->res.message, "1 instance(s)"));
    assert_int_equal(run(f, rds_step_cleanup, "cleanup"), 0); /* deleting: not sent again */
    assert_int_equal(f->res.verdict, STEP_WAIT);
    assert_int_equal(f->srv.nlog, 1);
    fake_find(&f->srv, "loans-writer")->used = 0; /* the member is gone */
    assert_int_equal(run(f, rds_step_cleanup, "cleanup"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_string_equal(out_get(f, "snapshotIdentifier"), "loans-old-20261120100000-final");
    /* again (a crash after the call): the cluster is deleting, no second delete */
    assert_int_equal(run(f, rds_step_cleanup, "cleanup"), 0);
    assert_int_equal(f->res.verdict, STEP_DONE);
    assert_log(&f->srv, want, 2);
}

static void test_cluster_cleanup_refuses_untagged_old(void **state)
{
    fixture *f = *state;
    load(f, CLUSTER_ITEM, CLUSTER_CLEANUP_STATUS);
    fake_add_cluster(&f->srv, "loans-old-20261120100000", "available", NULL, "loans-writer");
    f->ctx.now = lb_time_now();
    assert_int_equal(run(f, rds_step_cleanup, "cleanup"), 0);
    assert_int_equal(f->res.verdict, STEP_FAILED);
    assert_string_equal(f->res.reason, "TargetNotOwned");
    assert_non_null(strstr(f->res.message, "DB cluster loans-old-20261120100000"));
    assert_null(f->res.output);
    assert_int_equal(f->srv.nlog, 0);
}

static void test_no_aws_fails_clearly(void **state)
{
    fixture *f = *state;
    load(f, PIT_ITEM "}", NULL);
    f->ctx.aws = NULL;
    assert_int_equal(run(f, rds_step_validate, "validate"), 0);
    assert_int_equal(f->res.verdict, STEP_FAILED);
    assert_string_equal(f->res.reason, "AWSNotConfigured");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_validate_refuses_unowned_target, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate_and_restore_adopt_owned_target, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_validate_missing_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_sends_options_and_tags_then_waits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restore_aws_error_names_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate_restore_time_before_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_recent_time_retries_invalid_restore, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restore_throttled_is_transient, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latest_from_picks_newest_available, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latest_from_none_available, setup, teardown),
        cmocka_unit_test_setup_teardown(test_promote_from_source_and_target, setup, teardown),
        cmocka_unit_test_setup_teardown(test_promote_from_old_and_target, setup, teardown),
        cmocka_unit_test_setup_teardown(test_promote_from_old_and_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_promote_refuses_foreign_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_promote_undo_restores_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_waits_for_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_refuses_untagged_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_place_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_applied_then_500_is_adopted_not_resent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restore_applied_then_dropped_is_adopted_not_resent,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_promote_rename_applied_then_500_is_not_resent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_promote_tags_gone_between_describe_and_read_is_retried,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_promote_second_rename_dropped_is_adopted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_promote_and_undo_wait_through_rename_lag, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_terminal_status_fails_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_promote_conflict_is_read_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_delete_applied_then_500_is_not_resent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_delete_automated_backups_from_spec, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_deletes_what_promote_recorded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_aws_fails_clearly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cluster_promote_and_undo_rename_clusters, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_cluster_promote_through_rename_lag_and_applied_then_500, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cluster_promote_refuses_foreign_target, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cluster_cleanup_deletes_members_then_cluster_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cluster_cleanup_refuses_untagged_old, setup, teardown),
    };
    return cmocka_run_group_tests_name("steps_rds", tests, NULL, NULL);
}
