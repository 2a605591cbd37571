/* test_steps_kube.c - the Kubernetes restore steps: connection-string host
 * rewrite, templates, object names, rollout/status decisions against status
 * snapshots, and, against the scripted kube server, the rollback Secret keeping
 * the first original, a patch skipped when already applied, undo, rollout
 * restartedAt from the persisted start time, scale-down in one merge patch and
 * the migrations Job (URL only through a Secret, failed-log tail redacted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "controller/restore/step.h"
#include "util/error.h"

#include "test_kube_fake_server.h"
#include "test_step_fixture.h"

/* package-private helpers of steps_kube.c */
void steps_kube__object_name(char *out, size_t size, const char *full);
int steps_kube__replace_host(char **out, const char *value, const char *host, int port);
int steps_kube__json_field(char **out, const char *value, const char *key);
int steps_kube__render_template(char **out, const char *tmpl, const char *host, int port,
                                const json_t *data, const char *secret_name);
int steps_kube__rollout_check(const json_t *obj, const char *kind, char *msg, size_t size);
int steps_kube__crashloop_check(const json_t *pods, lb_time since, char *msg, size_t size);


/* base64 of the values used below */
#define B64_ORIG                                                                                                                              \
    "cG9zdGdyZXM6Ly9hcHA6c2VjcmV0QG9yaWcuZGI6NTQzMi9zaG9wP3NzbG1vZGU9cmVxdWlyZQ==" /* postgres://app:secret@orig.db:5432/shop?sslmode=require \
                                                                                    */
#define B64_NEW                                                                                       \
    "cG9zdGdyZXM6Ly9hcHA6c2VjcmV0QG5ldy5kYjo2NTQzL3Nob3A/c3NsbW9kZT1yZXF1aXJl" /* ...@new.db:6543/... \
                                                                                */
#define B64_OTHER                                                                                   \
    "cG9zdGdyZXM6Ly9hcHA6c2VjcmV0QG90aGVyLmRiOjEvc2hvcA==" /* postgres://app:secret@other.db:1/shop \
                                                            */


/* Starts the server with (status line, body) pairs. */
#define KUBE_STATUS                                                                                \
    "{\"outputs\":[{\"item\":\"orders-db\",\"endpoint\":\"new.db\",\"port\":6543}],\"steps\":[{"  \
    "\"name\":\"rollout/Deployment/api\",\"startedAt\":\"2026-11-21T01:02:03Z\"},{\"name\":"        \
    "\"rollback/rollout/Deployment/api\",\"startedAt\":\"2026-11-21T02:00:00Z\"}]}"

/* orders-db (rdsPointInTime) at patch-secrets, scaling down and rolling out Deployment api. */
static void fx_start(fixture *f, const char *const *pairs, size_t n, const char *item_spec)
{
    fx_init(f, pairs, n, KUBE_STATUS, item_spec ? item_spec : "{}", "orders-db",
            API_SOURCE_RDS_POINT_IN_TIME, "rdsPointInTime", "orders-db/patch-secrets");
    f->scale[0].kind = "Deployment";
    f->scale[0].name = "api";
    f->item.scale_down = f->scale;
    f->item.n_scale_down = 1;
    f->rollout[0].kind = "Deployment";
    f->rollout[0].name = "api";
    f->spec.rollout = f->rollout;
    f->spec.n_rollout = 1;
}



/* ---- pure helpers --------------------------------------------------------------------- */

static void test_replace_host_table(void **state)
{
    static const struct {
        const char *in, *host;
        int port;
        const char *want; /* NULL: an error */
    } rows[] = {
        {"postgres://app:s3cr%40t@old.db:5432/shop?sslmode=require&x=1", "new.db", 6543,
         "postgres://app:s3cr%40t@new.db:6543/shop?sslmode=require&x=1"},
        {"postgresql://u@old:1/db", "n", 2, "postgresql://u@n:2/db"},
        {"postgres://old.db/shop", "new.db", 6543, "postgres://new.db:6543/shop"},
        {"postgres://u:p@[2001:db8::1]:5432/db", "new.db", 15432, "postgres://u:p@new.db:15432/db"},
        {"postgres://u:p@old:5432/db", "2001:db8::7", 5433, "postgres://u:p@[2001:db8::7]:5433/db"},
        {"redis://:pw@cache:6379/0", "127.0.0.1", 7000, "redis://:pw@127.0.0.1:7000/0"},
        {"old.db:5432", "new.db", 6543, "new.db:6543"},
        {"old.db:5432/shop", "new.db", 6543, "new.db:6543/shop"},
        {"postgres://a:b@c@old:1/db", "n", 2, "postgres://a:b@c@n:2/db"},
        {"postgres:///shop?host=/var/run/postgresql", "n", 2, NULL},
        {"postgres://u:p@/db", "n", 2, NULL},
        {"just-a-password", "n", 2, NULL},
        {"postgres://h1:1,h2:2/db", "n", 2, NULL},
        {"postgres://old:port/db", "n", 2, NULL},
        {"postgres://[2001:db8::1/db", "n", 2, NULL},
        {"", "n", 2, NULL},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *got = NULL;
        int rc = steps_kube__replace_host(&got, rows[i].in, rows[i].host, rows[i].port);
        if (rows[i].want == NULL) {
            if (rc != LB_EINVALID)
                fail_msg("row %zu: want an error, got rc %d (%s)", i, rc, got ? got : "");
            /* the message never quotes the value */
            if (rows[i].in[0] != '\0')
                assert_null(strstr(lb_error_last(), rows[i].in));
        } else {
            if (rc != 0)
                fail_msg("row %zu: rc %d: %s", i, rc, lb_error_last());
            assert_string_equal(got, rows[i].want);
        }
        free(got);
    }
}

static void test_template_substitutes_and_refuses_unknown(void **state)
{
    json_t *data = json_pack("{s:s}", "password", "czNjcmV0"); /* s3cret */
    char *got = NULL;
    (void)state;

    assert_int_equal(steps_kube__render_template(&got,
                                                 "postgres://app:$(secret:password)@"
                                                 "$(ENDPOINT):$(PORT)/shop",
                                                 "new.db", 6543, data, "app-db"),
                     0);
    assert_string_equal(got, "postgres://app:s3cret@new.db:6543/shop");
    free(got);
    got = NULL;
    assert_int_equal(steps_kube__render_template(&got, "$(ENDPIONT)", "h", 1, data, "app-db"),
                     LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "$(ENDPIONT)"));
    assert_int_equal(steps_kube__render_template(&got, "$(secret:user)", "h", 1, data, "app-db"),
                     LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "no key user"));
    assert_null(got);
    json_decref(data);
}

static void test_object_name_truncates_with_hash(void **state)
{
    char a[64], b[64], full[200];
    (void)state;

    steps_kube__object_name(a, sizeof(a), "lb-rr1-orders-db-migrations");
    assert_string_equal(a, "lb-rr1-orders-db-migrations");
    memset(full, 'x', 150);
    memcpy(full, "lb-", 3);
    strcpy(full + 150, "-item-a-migrations");
    steps_kube__object_name(a, sizeof(a), full);
    strcpy(full + 150, "-item-b-migrations");
    steps_kube__object_name(b, sizeof(b), full);
    assert_true(strlen(a) <= 63);
    assert_true(strlen(b) <= 63);
    assert_string_not_equal(a, b); /* same prefix, different names */
    assert_int_equal(strncmp(a, full, 54), 0);
}

static int check(const char *obj, const char *kind, char *msg, size_t size)
{
    json_t *o = json_loads(obj, 0, NULL);
    int rc;
    assert_non_null(o);
    rc = steps_kube__rollout_check(o, kind, msg, size);
    json_decref(o);
    return rc;
}

static void test_rollout_check_deployment_snapshots(void **state)
{
    static const struct {
        const char *obj;
        int want;
        const char *says;
    } rows[] = {
        /* spec change not yet observed */
        {"{\"metadata\":{\"name\":\"api\",\"generation\":3},\"spec\":{\"replicas\":2},"
         "\"status\":{\"observedGeneration\":2,\"replicas\":2,\"updatedReplicas\":2,"
         "\"availableReplicas\":2}}",
         0, "observed"},
        {"{\"metadata\":{\"name\":\"api\",\"generation\":3},\"spec\":{\"replicas\":2},"
         "\"status\":{\"observedGeneration\":3,\"replicas\":3,\"updatedReplicas\":1,"
         "\"availableReplicas\":2}}",
         0, "1 of 2 new replicas"},
        /* new pods up, the old one still terminating */
        {"{\"metadata\":{\"name\":\"api\",\"generation\":3},\"spec\":{\"replicas\":2},"
         "\"status\":{\"observedGeneration\":3,\"replicas\":3,\"updatedReplicas\":2,"
         "\"availableReplicas\":2}}",
         0, "1 old replicas"},
        {"{\"metadata\":{\"name\":\"api\",\"generation\":3},\"spec\":{\"replicas\":2},"
         "\"status\":{\"observedGeneration\":3,\"replicas\":2,\"updatedReplicas\":2,"
         "\"availableReplicas\":1}}",
         0, "1 of 2 updated replicas available"},
        {"{\"metadata\":{\"name\":\"api\",\"generation\":3},\"spec\":{\"replicas\":2},"
         "\"status\":{\"observedGeneration\":3,\"replicas\":2,\"updatedReplicas\":2,"
         "\"availableReplicas\":2}}",
         1, "rolled out"},
        {"{\"metadata\":{\"name\":\"api\",\"generation\":3},\"spec\":{\"replicas\":2},"
         "\"status\":{\"observedGeneration\":3,\"replicas\":3,\"updatedReplicas\":1,"
         "\"conditions\":[{\"type\":\"Progressing\",\"status\":\"False\",\"reason\":"
         "\"ProgressDeadlineExceeded\"}]}}",
         -1, "progress deadline"},
        /* replicas defaults to 1 */
        {"{\"metadata\":{\"name\":\"api\",\"generation\":1},\"spec\":{},"
         "\"status\":{\"observedGeneration\":1}}",
         0, "0 of 1"},
    };
    char msg[256];
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int rc = check(rows[i].obj, "Deployment", msg, sizeof(msg));
        if (rc != rows[i].want || strstr(msg, rows[i].says) == NULL)
            fail_msg("row %zu: rc %d msg '%s'", i, rc, msg);
    }
}

static void test_rollout_check_statefulset_and_daemonset(void **state)
{
    char msg[256];
    (void)state;
    assert_int_equal(check("{\"metadata\":{\"name\":\"redis\",\"generation\":2},\"spec\":{"
                           "\"replicas\":3},\"status\":{\"observedGeneration\":2,"
                           "\"readyReplicas\":2,\"updatedReplicas\":3}}",
                           "StatefulSet", msg, sizeof(msg)),
                     0);
    assert_non_null(strstr(msg, "2 of 3 pods ready"));
    assert_int_equal(check("{\"metadata\":{\"name\":\"redis\",\"generation\":2},\"spec\":{"
                           "\"replicas\":3},\"status\":{\"observedGeneration\":2,"
                           "\"readyReplicas\":3,\"updatedReplicas\":3,\"currentRevision\":"
                           "\"redis-a\",\"updateRevision\":\"redis-b\"}}",
                           "StatefulSet", msg, sizeof(msg)),
                     0);
    assert_non_null(strstr(msg, "redis-b"));
    assert_int_equal(check("{\"metadata\":{\"name\":\"redis\",\"generation\":2},\"spec\":{"
                           "\"replicas\":3},\"status\":{\"observedGeneration\":2,"
                           "\"readyReplicas\":3,\"updatedReplicas\":3,\"currentRevision\":"
                           "\"redis-b\",\"updateRevision\":\"redis-b\"}}",
                           "StatefulSet", msg, sizeof(msg)),
                     1);
    assert_int_equal(check("{\"metadata\":{\"name\":\"redis\",\"generation\":2},\"spec\":{"
                           "\"replicas\":1,\"updateStrategy\":{\"type\":\"OnDelete\"}},"
                           "\"status\":{\"observedGeneration\":2}}",
                           "StatefulSet", msg, sizeof(msg)),
                     -1);
    assert_int_equal(check("{\"metadata\":{\"name\":\"agent\",\"generation\":4},\"status\":{"
                           "\"observedGeneration\":4,\"desiredNumberScheduled\":3,"
                           "\"updatedNumberScheduled\":3,\"numberAvailable\":2}}",
                           "DaemonSet", msg, sizeof(msg)),
                     0);
    assert_int_equal(check("{\"metadata\":{\"name\":\"agent\",\"generation\":4},\"status\":{"
                           "\"observedGeneration\":4,\"desiredNumberScheduled\":3,"
                           "\"updatedNumberScheduled\":3,\"numberAvailable\":3}}",
                           "DaemonSet", msg, sizeof(msg)),
                     1);
}

/* ---- against the scripted server ------------------------------------------------------- */

#define PATCH_SPEC                                                                                 \
    "{\"secretPatches\":[{\"secretName\":\"app-db\",\"key\":\"url\",\"replaceHost\":true}]}"
#define LIVE(v)                                                                                    \
    "{\"kind\":\"Secret\",\"metadata\":{\"name\":\"app-db\",\"namespace\":\"shop\","               \
    "\"resourceVersion\":\"7\"},\"data\":{\"url\":\"" v "\"}}"
#define ROLLBACK(v)                                                                                \
    "{\"kind\":\"Secret\",\"metadata\":{\"name\":\"lifeboat-rollback-rr1\",\"namespace\":"         \
    "\"shop\",\"resourceVersion\":\"9\"," OWNED "},\"data\":{\"app-db_url\":\"" v "\"}}"

static void test_patch_secrets_creates_rollback_before_patching(void **state)
{
    const char *pairs[] = {"200 OK",      LIVE(B64_ORIG),     "404 Not Found", NOT_FOUND,
                           "201 Created", ROLLBACK(B64_ORIG), "200 OK",        LIVE(B64_NEW)};
    fixture f;
    (void)state;
    fx_start(&f, pairs, 4, PATCH_SPEC);
    assert_int_equal(kube_step_patch_secrets(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_DONE);
    assert_non_null(strstr(req(&f, 0), "GET /api/v1/namespaces/shop/secrets/app-db "));
    assert_non_null(strstr(req(&f, 2), "POST /api/v1/namespaces/shop/secrets "));
    assert_non_null(strstr(req(&f, 2), "\"app-db_url\":\"" B64_ORIG "\""));
    assert_non_null(strstr(req(&f, 2), "\"uid\":\"uid-111\""));
    assert_non_null(strstr(req(&f, 2), "\"controller\":true"));
    assert_non_null(strstr(req(&f, 2), "\"app.kubernetes.io/managed-by\":\"lifeboat\""));
    assert_non_null(strstr(req(&f, 3), "PATCH /api/v1/namespaces/shop/secrets/app-db "));
    assert_non_null(strstr(req(&f, 3), "application/json-patch+json"));
    assert_non_null(
        strstr(req(&f, 3), "{\"op\":\"test\",\"path\":\"/data/url\",\"value\":\"" B64_ORIG "\"}"));
    assert_non_null(strstr(
        req(&f, 3), "{\"op\":\"replace\",\"path\":\"/data/url\",\"value\":\"" B64_NEW "\"}"));
    assert_null(strstr(f.out.message, "secret@")); /* no value in the message */
    assert_non_null(strstr(f.out.message, "new.db:6543"));
    fx_stop(&f);
}

static void test_patch_secrets_keeps_first_original(void **state)
{
    /* the live value changed since the first run; the rollback entry is kept and
     * the new value still derives from it */
    const char *pairs[] = {"200 OK",           LIVE(B64_OTHER), "200 OK",
                           ROLLBACK(B64_ORIG), "200 OK",        LIVE(B64_NEW)};
    fixture f;
    (void)state;
    fx_start(&f, pairs, 3, PATCH_SPEC);
    assert_int_equal(kube_step_patch_secrets(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_DONE);
    assert_int_equal(atomic_load(&f.e.srv.n_requests), 3);
    assert_non_null(
        strstr(req(&f, 1), "GET /api/v1/namespaces/shop/secrets/lifeboat-rollback-rr1 "));
    /* the third request patches the live Secret, not the rollback one */
    assert_non_null(strstr(req(&f, 2), "PATCH /api/v1/namespaces/shop/secrets/app-db "));
    assert_non_null(strstr(req(&f, 2), "\"value\":\"" B64_OTHER "\""));
    assert_non_null(strstr(req(&f, 2), "\"value\":\"" B64_NEW "\""));
    fx_stop(&f);
}

static void test_patch_secrets_skipped_when_applied(void **state)
{
    const char *pairs[] = {"200 OK", LIVE(B64_NEW), "200 OK", ROLLBACK(B64_ORIG)};
    fixture f;
    (void)state;
    fx_start(&f, pairs, 2, PATCH_SPEC);
    assert_int_equal(kube_step_patch_secrets(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_DONE);
    assert_int_equal(atomic_load(&f.e.srv.n_requests), 2);
    assert_non_null(strstr(f.out.message, "0 changed"));
    fx_stop(&f);
}

static void test_patch_secrets_no_host_fails_clearly(void **state)
{
    /* "just-a-password" */
    const char *pairs[] = {"200 OK", LIVE("anVzdC1hLXBhc3N3b3Jk"), "200 OK",
                           ROLLBACK("anVzdC1hLXBhc3N3b3Jk")};
    fixture f;
    (void)state;
    fx_start(&f, pairs, 2, PATCH_SPEC);
    assert_int_equal(kube_step_patch_secrets(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_FAILED);
    assert_string_equal(f.out.reason, "InvalidSecretValue");
    assert_non_null(strstr(f.out.message, "Secret app-db key url"));
    assert_null(strstr(f.out.message, "just-a-password"));
    fx_stop(&f);
}

static void test_patch_secrets_undo_restores_original(void **state)
{
    const char *pairs[] = {"200 OK",      ROLLBACK(B64_ORIG), "200 OK",
                           LIVE(B64_NEW), "200 OK",           LIVE(B64_ORIG)};
    fixture f;
    (void)state;
    fx_start(&f, pairs, 3, PATCH_SPEC);
    f.ctx.rollback = 1;
    assert_int_equal(kube_step_patch_secrets_undo(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_DONE);
    assert_non_null(
        strstr(req(&f, 2), "{\"op\":\"test\",\"path\":\"/data/url\",\"value\":\"" B64_NEW "\"}"));
    assert_non_null(strstr(
        req(&f, 2), "{\"op\":\"replace\",\"path\":\"/data/url\",\"value\":\"" B64_ORIG "\"}"));
    fx_stop(&f);
}

static void test_patch_secrets_undo_without_rollback_secret(void **state)
{
    const char *pairs[] = {"404 Not Found", NOT_FOUND};
    fixture f;
    (void)state;
    fx_start(&f, pairs, 1, PATCH_SPEC);
    assert_int_equal(kube_step_patch_secrets_undo(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_DONE);
    assert_int_equal(atomic_load(&f.e.srv.n_requests), 1);
    fx_stop(&f);
}

#define TMPL_SPEC                                                                                  \
    "{\"secretPatches\":[{\"secretName\":\"app-db\",\"key\":\"dsn\",\"template\":"                 \
    "\"host=$(ENDPOINT) port=$(PORT)\"}]}"

static void test_patch_secrets_new_key_recorded_absent_and_removed_on_undo(void **state)
{
    const char *pairs[] = {"200 OK",      LIVE(B64_ORIG), "404 Not Found", NOT_FOUND,
                           "201 Created", "{}",           "200 OK",        "{}"};
    const char *undo[] = {"200 OK",
                          "{\"metadata\":{\"name\":\"lifeboat-rollback-rr1\",\"annotations\":{"
                          "\"lifeboat.dev/absent-keys\":\"app-db_dsn\"}," OWNED "},\"data\":{}}",
                          "200 OK",
                          "{\"metadata\":{\"name\":\"app-db\"},\"data\":{\"url\":\"" B64_ORIG
                          "\",\"dsn\":"
                          "\"aG9zdD1uZXcuZGIgcG9ydD02NTQz\"}}",
                          "200 OK",
                          "{}"};
    fixture f;
    (void)state;
    fx_start(&f, pairs, 4, TMPL_SPEC);
    assert_int_equal(kube_step_patch_secrets(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_DONE);
    assert_non_null(strstr(req(&f, 2), "\"lifeboat.dev/absent-keys\":\"app-db_dsn\""));
    /* host=new.db port=6543 */
    assert_non_null(strstr(req(&f, 3), "{\"op\":\"add\",\"path\":\"/data/dsn\",\"value\":"
                                       "\"aG9zdD1uZXcuZGIgcG9ydD02NTQz\"}"));
    assert_null(strstr(req(&f, 3), "\"op\":\"test\""));
    fx_stop(&f);

    fx_start(&f, undo, 3, TMPL_SPEC);
    assert_int_equal(kube_step_patch_secrets_undo(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_DONE);
    assert_non_null(strstr(req(&f, 2), "{\"op\":\"remove\",\"path\":\"/data/dsn\"}"));
    assert_non_null(strstr(req(&f, 2), "{\"op\":\"test\",\"path\":\"/data/dsn\""));
    fx_stop(&f);
}

#define DEPLOY(ann, gen, og, rep, upd, avail)                                                      \
    "{\"kind\":\"Deployment\",\"metadata\":{\"name\":\"api\",\"namespace\":\"shop\","              \
    "\"generation\":" gen "},\"spec\":{\"replicas\":1,\"template\":{\"metadata\":{"                \
    "\"annotations\":{" ann "}}}},\"status\":{\"observedGeneration\":" og ",\"replicas\":" rep     \
    ",\"updatedReplicas\":" upd ",\"availableReplicas\":" avail "}}"

static void test_rollout_restarts_at_persisted_start(void **state)
{
    const char *pairs[] = {
        "200 OK",
        DEPLOY("", "1", "1", "1", "1", "1"),
        "200 OK",
        DEPLOY("\"kubectl.kubernetes.io/restartedAt\":\"2026-11-21T01:02:03Z\"", "2", "1", "1", "1",
               "1"),
        /* second call: already annotated and rolled out */
        "200 OK",
        DEPLOY("\"kubectl.kubernetes.io/restartedAt\":\"2026-11-21T01:02:03Z\"", "2", "2", "1", "1",
               "1"),
    };
    fixture f;
    (void)state;
    fx_start(&f, pairs, 3, NULL);
    f.step.name = "rollout/Deployment/api";
    f.ctx.item = NULL;
    assert_int_equal(kube_step_rollout(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_WAIT);
    assert_non_null(strstr(req(&f, 1), "PATCH /apis/apps/v1/namespaces/shop/deployments/api "));
    assert_non_null(strstr(req(&f, 1), "application/merge-patch+json"));
    assert_non_null(
        strstr(req(&f, 1), "\"kubectl.kubernetes.io/restartedAt\":\"2026-11-21T01:02:03Z\""));
    assert_int_equal(kube_step_rollout(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_DONE);
    assert_int_equal(atomic_load(&f.e.srv.n_requests), 3); /* no second PATCH */
    fx_stop(&f);
}

static void test_rollout_rollback_uses_own_start(void **state)
{
    const char *pairs[] = {
        "200 OK",
        DEPLOY("\"kubectl.kubernetes.io/restartedAt\":\"2026-11-21T01:02:03Z\"", "2", "2", "1", "1",
               "1"),
        "200 OK",
        DEPLOY("\"kubectl.kubernetes.io/restartedAt\":\"2026-11-21T02:00:00Z\"", "3", "2", "1", "1",
               "1"),
    };
    fixture f;
    (void)state;
    fx_start(&f, pairs, 2, NULL);
    f.step.name = "rollout/Deployment/api";
    f.ctx.item = NULL;
    f.ctx.rollback = 1;
    assert_int_equal(kube_step_rollout(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_WAIT);
    assert_non_null(
        strstr(req(&f, 1), "\"kubectl.kubernetes.io/restartedAt\":\"2026-11-21T02:00:00Z\""));
    fx_stop(&f);
}

#define POD(name, created, reason, restarts)                                                       \
    "{\"metadata\":{\"name\":\"" name "\",\"creationTimestamp\":\"" created "\"},"                 \
    "\"status\":{\"containerStatuses\":[{\"name\":\"app\",\"restartCount\":" restarts              \
    ",\"state\":{\"waiting\":{\"reason\":\"" reason "\"}}}]}}"

static void test_crashloop_check_judges_only_new_pods(void **state)
{
    lb_time since;
    char msg[256];
    json_t *pods;
    (void)state;
    assert_int_equal(lb_time_parse_rfc3339(&since, "2026-11-21T01:02:03Z"), 0);
    /* an old pod that crash-looped before this rollout is not ours to judge */
    pods = json_loads("{\"items\":[" POD("db-0", "2026-11-20T00:00:00Z", "CrashLoopBackOff",
                                         "40") "," POD("db-1", "2026-11-21T01:02:05Z",
                                                       "ContainerCreating", "0") "]}",
                      0, NULL);
    assert_non_null(pods);
    assert_int_equal(steps_kube__crashloop_check(pods, since, msg, sizeof(msg)), 0);
    json_decref(pods);
    pods = json_loads(
        "{\"items\":[" POD("db-1", "2026-11-21T01:02:05Z", "CrashLoopBackOff", "1") "]}", 0, NULL);
    assert_int_equal(steps_kube__crashloop_check(pods, since, msg, sizeof(msg)), 1);
    assert_non_null(strstr(msg, "db-1"));
    assert_non_null(strstr(msg, "CrashLoopBackOff"));
    json_decref(pods);
    /* restarting without the back-off reason yet: 3 restarts is a loop */
    pods = json_loads("{\"items\":[" POD("db-1", "2026-11-21T01:02:05Z", "", "3") "]}", 0, NULL);
    assert_int_equal(steps_kube__crashloop_check(pods, since, msg, sizeof(msg)), 1);
    json_decref(pods);
    pods = json_loads("{\"items\":[" POD("db-1", "2026-11-21T01:02:05Z", "", "2") "]}", 0, NULL);
    assert_int_equal(steps_kube__crashloop_check(pods, since, msg, sizeof(msg)), 0);
    json_decref(pods);
}

#define STS_ROLLING                                                                                \
    "{\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"db\",\"namespace\":\"shop\","              \
    "\"generation\":2},\"spec\":{\"replicas\":2,\"selector\":{\"matchLabels\":{\"app\":"           \
    "\"db\"}},\"template\":{\"metadata\":{\"annotations\":{\"kubectl.kubernetes.io/"               \
    "restartedAt\":\"2026-11-21T01:02:03Z\"}}}},\"status\":{\"observedGeneration\":2,"             \
    "\"readyReplicas\":1,\"updatedReplicas\":0}}"

static void test_rollout_fails_early_on_a_crash_looping_statefulset(void **state)
{
    const char *pairs[] = {
        "200 OK",
        STS_ROLLING,
        "200 OK",
        "{\"kind\":\"PodList\",\"items\":[" POD("db-1", "2026-11-21T01:02:09Z", "CrashLoopBackOff",
                                                "2") "]}",
    };
    fixture f;
    (void)state;
    fx_start(&f, pairs, 2, NULL);
    f.rollout[0].kind = "StatefulSet";
    f.rollout[0].name = "db";
    f.step.name = "rollout/StatefulSet/db";
    f.ctx.item = NULL;
    json_array_append_new(json_object_get(f.status, "steps"),
                          json_pack("{s:s, s:s}", "name", "rollout/StatefulSet/db", "startedAt",
                                    "2026-11-21T01:02:03Z"));
    assert_int_equal(kube_step_rollout(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_FAILED);
    assert_string_equal(f.out.reason, "CrashLooping");
    assert_non_null(strstr(f.out.message, "StatefulSet db"));
    assert_non_null(strstr(f.out.message, "db-1"));
    assert_non_null(strstr(req(&f, 1), "GET /api/v1/namespaces/shop/pods?"));
    assert_non_null(strstr(req(&f, 1), "labelSelector=app%3Ddb"));
    assert_int_equal(atomic_load(&f.e.srv.n_requests), 2); /* annotated already: no PATCH */
    fx_stop(&f);
}

#define DEPLOY_R(ann, spec_rep, status_rep)                                                        \
    "{\"kind\":\"Deployment\",\"metadata\":{\"name\":\"api\",\"namespace\":\"shop\","              \
    "\"generation\":5,\"annotations\":{" ann "}},\"spec\":{\"replicas\":" spec_rep "},"            \
    "\"status\":{\"observedGeneration\":5,\"replicas\":" status_rep                                \
    ",\"updatedReplicas\":" status_rep ",\"availableReplicas\":" status_rep "}}"

static void test_stop_writers_then_rollback_rollout_brings_replicas_back(void **state)
{
    const char *pairs[] = {
        "200 OK",
        DEPLOY_R("", "2", "2"),
        "200 OK",
        DEPLOY_R("\"lifeboat.dev/replicas-before\":\"2\"", "0", "2"),
        "200 OK",
        DEPLOY_R("\"lifeboat.dev/replicas-before\":\"2\"", "0", "0"),
        /* rollback/rollout: the kept count comes back with the restart */
        "200 OK",
        DEPLOY_R("\"lifeboat.dev/replicas-before\":\"2\"", "0", "0"),
        "200 OK",
        DEPLOY_R("", "2", "0"),
    };
    fixture f;
    (void)state;
    fx_start(&f, pairs, 5, NULL);
    f.step.name = "stop-writers";
    f.ctx.item = NULL;
    f.ctx.rollback = 1;
    assert_int_equal(kube_step_stop_writers(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_WAIT);
    assert_non_null(strstr(req(&f, 1), "PATCH /apis/apps/v1/namespaces/shop/deployments/api "));
    assert_non_null(strstr(req(&f, 1), "\"lifeboat.dev/replicas-before\":\"2\""));
    assert_non_null(strstr(req(&f, 1), "\"replicas\":0"));
    assert_int_equal(kube_step_stop_writers(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_DONE); /* at 0: no second PATCH */
    assert_non_null(strstr(f.out.message, "writers stopped"));
    assert_int_equal(atomic_load(&f.e.srv.n_requests), 3);

    f.step.name = "rollout/Deployment/api";
    assert_int_equal(kube_step_rollout(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_WAIT);
    assert_non_null(strstr(req(&f, 4), "PATCH /apis/apps/v1/namespaces/shop/deployments/api "));
    assert_non_null(strstr(req(&f, 4), "\"lifeboat.dev/replicas-before\":null"));
    assert_non_null(strstr(req(&f, 4), "\"replicas\":2"));
    assert_non_null(
        strstr(req(&f, 4), "\"kubectl.kubernetes.io/restartedAt\":\"2026-11-21T02:00:00Z\""));
    fx_stop(&f);
}

static void test_scale_down_one_merge_patch(void **state)
{
    const char *pairs[] = {
        "200 OK",
        "{\"metadata\":{\"name\":\"api\",\"generation\":1},\"spec\":{\"replicas\":3},"
        "\"status\":{\"observedGeneration\":1,\"replicas\":3}}",
        "200 OK",
        "{\"metadata\":{\"name\":\"api\",\"generation\":2,\"annotations\":{"
        "\"lifeboat.dev/replicas-before\":\"3\"}},\"spec\":{\"replicas\":0},"
        "\"status\":{\"observedGeneration\":1,\"replicas\":3}}",
        "200 OK",
        "{\"metadata\":{\"name\":\"api\",\"generation\":2,\"annotations\":{"
        "\"lifeboat.dev/replicas-before\":\"3\"}},\"spec\":{\"replicas\":0},"
        "\"status\":{\"observedGeneration\":2,\"replicas\":0}}",
    };
    fixture f;
    (void)state;
    fx_start(&f, pairs, 3, NULL);
    assert_int_equal(kube_step_scale_down(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_WAIT);
    assert_non_null(strstr(req(&f, 1), "PATCH /apis/apps/v1/namespaces/shop/deployments/api "));
    assert_non_null(strstr(req(&f, 1), "\"lifeboat.dev/replicas-before\":\"3\""));
    assert_non_null(strstr(req(&f, 1), "\"replicas\":0"));
    /* again: already 0 with the annotation, so no patch; stopped, so done */
    assert_int_equal(kube_step_scale_down(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_DONE);
    assert_int_equal(atomic_load(&f.e.srv.n_requests), 3);
    fx_stop(&f);
}

#define MIG_SPEC                                                                                   \
    "{\"credentialsSecretRef\":{\"name\":\"db-creds\",\"usernameKey\":\"username\","               \
    "\"passwordKey\":\"password\"},\"database\":\"shop\",\"migrations\":{\"image\":\"m:1\","       \
    "\"command\":[\"migrate\",\"up\"],\"databaseURLEnv\":\"DATABASE_URL\",\"backoffLimit\":0,"     \
    "\"timeoutSeconds\":600}}"
#define CREDS                                                                                      \
    "{\"kind\":\"Secret\",\"metadata\":{\"name\":\"db-creds\"},\"data\":{\"username\":"            \
    "\"YXBw\",\"password\":\"czNjcmV0IXg=\"}}" /* app / s3cret!x */

static void test_migrations_creates_secret_then_job(void **state)
{
    const char *pairs[] = {"404 Not Found", NOT_FOUND, "200 OK",      CREDS, "200 OK",      CREDS,
                           "404 Not Found", NOT_FOUND, "201 Created", "{}",  "201 Created", "{}"};
    fixture f;
    const char *job;
    (void)state;
    fx_start(&f, pairs, 6, MIG_SPEC);
    assert_int_equal(kube_step_migrations(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_WAIT);
    assert_non_null(
        strstr(req(&f, 0), "GET /apis/batch/v1/namespaces/shop/jobs/lb-rr1-orders-db-migrations "));
    assert_non_null(strstr(req(&f, 4), "POST /api/v1/namespaces/shop/secrets "));
    assert_non_null(strstr(req(&f, 4), "\"name\":\"lb-rr1-orders-db-migrations-db\""));
    /* postgres://app:s3cret%21x@new.db:6543/shop */
    assert_non_null(strstr(req(&f, 4), "cG9zdGdyZXM6Ly9hcHA6czNjcmV0JTIxeEBuZXcuZGI6NjU0My9zaG9w"));
    job = req(&f, 5);
    assert_non_null(strstr(job, "POST /apis/batch/v1/namespaces/shop/jobs "));
    assert_non_null(strstr(job, "\"secretKeyRef\":{\"name\":\"lb-rr1-orders-db-migrations-db\","
                                "\"key\":\"url\"}"));
    assert_non_null(strstr(job, "\"backoffLimit\":0"));
    assert_non_null(strstr(job, "\"activeDeadlineSeconds\":600"));
    assert_non_null(strstr(job, "\"uid\":\"uid-111\""));
    assert_non_null(strstr(job, "\"restartPolicy\":\"Never\""));
    assert_null(strstr(job, "s3cret"));
    assert_null(strstr(job, "postgres://"));
    fx_stop(&f);
}

static void test_migrations_failed_reports_redacted_log_tail(void **state)
{
    const char *pairs[] = {
        "200 OK",
        "{\"metadata\":{\"name\":\"lb-rr1-orders-db-migrations\"," OWNED "},\"status\":{"
        "\"failed\":1,\"conditions\":[{\"type\":\"Failed\",\"status\":\"True\",\"reason\":"
        "\"BackoffLimitExceeded\"}]}}",
        "200 OK",
        CREDS,
        "200 OK",
        "{\"items\":[{\"metadata\":{\"name\":\"lb-rr1-orders-db-migrations-abcde\","
        "\"creationTimestamp\":\"2026-11-21T01:00:00Z\"}}]}",
        "200 OK",
        "connecting to postgres://app:s3cret!x@new.db:6543/shop\npassword is s3cret!x or "
        "s3cret%21x\n"
        "ERROR: relation \"orders\" already exists\n",
    };
    fixture f;
    (void)state;
    fx_start(&f, pairs, 4, MIG_SPEC);
    assert_int_equal(kube_step_migrations(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_FAILED);
    assert_string_equal(f.out.reason, "MigrationsFailed");
    assert_non_null(strstr(f.out.message, "BackoffLimitExceeded"));
    assert_non_null(strstr(f.out.message, "already exists"));
    assert_null(strstr(f.out.message, "s3cret"));
    assert_non_null(strstr(req(&f, 2), "labelSelector=job-name%3Dlb-rr1-orders-db-migrations"));
    assert_non_null(strstr(req(&f, 3), "/pods/lb-rr1-orders-db-migrations-abcde/log?"));
    assert_non_null(strstr(req(&f, 3), "tailLines=40"));
    fx_stop(&f);
}

static void test_migrations_refuses_foreign_job(void **state)
{
    const char *pairs[] = {"200 OK", "{\"metadata\":{\"name\":\"lb-rr1-orders-db-migrations\","
                                     "\"ownerReferences\":[{\"uid\":\"other\"}]}}"};
    fixture f;
    (void)state;
    fx_start(&f, pairs, 1, MIG_SPEC);
    assert_int_equal(kube_step_migrations(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_FAILED);
    assert_string_equal(f.out.reason, "JobNotOwned");
    fx_stop(&f);
}

/* secretPatches[].jsonKey: a string field as is, another JSON value compact; errors
 * name the key and never quote the value. */
static void test_json_field_of_a_secret_value(void **state)
{
    char *got = NULL;
    (void)state;
    assert_int_equal(
        steps_kube__json_field(&got, "{\"signingKey\":\"s3cr3t\",\"n\":5}", "signingKey"), 0);
    assert_string_equal(got, "s3cr3t");
    free(got);
    assert_int_equal(steps_kube__json_field(&got, "{\"signingKey\":\"s3cr3t\",\"n\":5}", "n"), 0);
    assert_string_equal(got, "5");
    free(got);
    assert_int_equal(steps_kube__json_field(&got, "{\"signingKey\":\"s3cr3t\"}", "other"),
                     LB_EINVALID);
    assert_null(got);
    assert_non_null(strstr(lb_error_last(), "other"));
    assert_null(strstr(lb_error_last(), "s3cr3t"));
    assert_int_equal(steps_kube__json_field(&got, "plain-s3cr3t", "signingKey"), LB_EINVALID);
    assert_null(strstr(lb_error_last(), "s3cr3t"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replace_host_table),
        cmocka_unit_test(test_json_field_of_a_secret_value),
        cmocka_unit_test(test_template_substitutes_and_refuses_unknown),
        cmocka_unit_test(test_object_name_truncates_with_hash),
        cmocka_unit_test(test_rollout_check_deployment_snapshots),
        cmocka_unit_test(test_rollout_check_statefulset_and_daemonset),
        cmocka_unit_test(test_patch_secrets_creates_rollback_before_patching),
        cmocka_unit_test(test_patch_secrets_keeps_first_original),
        cmocka_unit_test(test_patch_secrets_skipped_when_applied),
        cmocka_unit_test(test_patch_secrets_no_host_fails_clearly),
        cmocka_unit_test(test_patch_secrets_undo_restores_original),
        cmocka_unit_test(test_patch_secrets_undo_without_rollback_secret),
        cmocka_unit_test(test_patch_secrets_new_key_recorded_absent_and_removed_on_undo),
        cmocka_unit_test(test_rollout_restarts_at_persisted_start),
        cmocka_unit_test(test_rollout_rollback_uses_own_start),
        cmocka_unit_test(test_crashloop_check_judges_only_new_pods),
        cmocka_unit_test(test_rollout_fails_early_on_a_crash_looping_statefulset),
        cmocka_unit_test(test_stop_writers_then_rollback_rollout_brings_replicas_back),
        cmocka_unit_test(test_scale_down_one_merge_patch),
        cmocka_unit_test(test_migrations_creates_secret_then_job),
        cmocka_unit_test(test_migrations_failed_reports_redacted_log_tail),
        cmocka_unit_test(test_migrations_refuses_foreign_job),
    };
    return cmocka_run_group_tests_name("steps_kube", tests, NULL, NULL);
}
