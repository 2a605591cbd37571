/* test_steps_pgdump.c - the pgDump restore steps against the scripted kube
 * server: the load Job carries the URL and key only as secretKeyRef env, the
 * item's flags in its command, the request as owner and no SA token; a
 * completed Job's JSON result line becomes the step message; a failed one
 * fails the step with the agent's error; a Job owned by someone else is
 * refused; nothing runs before validate resolved the object. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "controller/restore/step.h"
#include "util/error.h"

#include "test_kube_fake_server.h"

#define RR_JSON                                                                                    \
    "{\"apiVersion\":\"lifeboat.dev/v1alpha1\",\"kind\":\"RestoreRequest\",\"metadata\":{"         \
    "\"name\":\"rr1\",\"namespace\":\"shop\",\"uid\":\"uid-111\"}}"
#define OWNED                                                                                      \
    "\"ownerReferences\":[{\"kind\":\"RestoreRequest\",\"name\":\"rr1\",\"uid\":\"uid-111\"}]"
#define NOT_FOUND "{\"kind\":\"Status\",\"code\":404,\"reason\":\"NotFound\",\"message\":\"nope\"}"
#define ITEM_SPEC                                                                                  \
    "{\"pgDump\":{\"source\":{\"bucket\":\"backups\",\"latestUnder\":\"pg/\"},\"manifest\":"       \
    "\"required\",\"decryption\":{\"keySecretRef\":{\"name\":\"bk\",\"key\":\"k\"}},\"target\":{"  \
    "\"connectionSecretRef\":{\"name\":\"db\",\"key\":\"url\"}},\"tables\":[\"orders\","           \
    "\"sales.items\"],\"jobs\":1}}"
#define STATUS_RESOLVED                                                                            \
    "{\"outputs\":[{\"item\":\"orders\",\"location\":\"s3://backups/pg/shop_1.dump\"}]}"
#define JOB_DONE                                                                                   \
    "{\"metadata\":{\"name\":\"lb-rr1-orders-load\"," OWNED "},\"status\":{\"conditions\":[{"      \
    "\"type\":\"Complete\",\"status\":\"True\"}]}}"
#define JOB_FAILED                                                                                 \
    "{\"metadata\":{\"name\":\"lb-rr1-orders-load\"," OWNED "},\"status\":{\"conditions\":[{"      \
    "\"type\":\"Failed\",\"status\":\"True\"}]}}"
#define PODS                                                                                       \
    "{\"items\":[{\"metadata\":{\"name\":\"lb-rr1-orders-load-x1\",\"creationTimestamp\":"         \
    "\"2026-11-21T01:00:00Z\"}}]}"

typedef struct fixture {
    env e;
    char *raws[MAX_SCRIPT];
    size_t n;
    json_t *rr, *status, *item_spec;
    api_restore_item item;
    api_restore_spec spec;
    plan_step step;
    step_ctx ctx;
    step_result out;
} fixture;

static void fx_start(fixture *f, const char *const *pairs, size_t n, const char *status)
{
    scripted sc[MAX_SCRIPT];
    memset(f, 0, sizeof(*f));
    memset(sc, 0, sizeof(sc));
    assert_true(n <= MAX_SCRIPT);
    for (size_t i = 0; i < n; i++) {
        f->raws[i] = resp(pairs[2 * i], "", pairs[2 * i + 1]);
        sc[i].raw = f->raws[i];
    }
    f->n = n;
    env_start(&f->e, sc, n);
    f->rr = json_loads(RR_JSON, 0, NULL);
    f->status = json_loads(status, 0, NULL);
    f->item_spec = json_loads(ITEM_SPEC, 0, NULL);
    assert_non_null(f->status);
    assert_non_null(f->item_spec);
    f->item.name = "orders";
    f->item.source = API_SOURCE_PG_DUMP;
    f->item.spec = f->item_spec;
    f->item.source_spec = json_object_get(f->item_spec, "pgDump");
    f->step.name = "orders/load";
    f->ctx.kube = f->e.c;
    f->ctx.rr = f->rr;
    f->ctx.status = f->status;
    f->ctx.spec = &f->spec;
    f->ctx.item = &f->item;
    f->ctx.step = &f->step;
}

static void fx_stop(fixture *f)
{
    env_stop(&f->e);
    for (size_t i = 0; i < f->n; i++)
        free(f->raws[i]);
    json_decref(f->rr);
    json_decref(f->status);
    json_decref(f->item_spec);
    json_decref(f->out.output);
}

static const char *req(fixture *f, size_t i)
{
    assert_true(atomic_load(&f->e.srv.n_requests) > i);
    return f->e.srv.requests[i];
}

static void test_pgdump_load_creates_job_with_secrets_only_in_secret_key_refs(void **state)
{
    const char *pairs[] = {"404 Not Found", NOT_FOUND, "201 Created", "{}"};
    fixture f;
    (void)state;
    fx_start(&f, pairs, 2, STATUS_RESOLVED);
    assert_int_equal(pgdump_step_load(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_WAIT);
    assert_non_null(
        strstr(req(&f, 0), "GET /apis/batch/v1/namespaces/shop/jobs/lb-rr1-orders-load "));
    const char *job = req(&f, 1);
    assert_non_null(strstr(job, "POST /apis/batch/v1/namespaces/shop/jobs "));
    assert_non_null(strstr(job, "\"name\":\"LIFEBOAT_DB_URL\",\"valueFrom\":{\"secretKeyRef\":{"
                                "\"name\":\"db\",\"key\":\"url\"}}"));
    assert_non_null(strstr(job, "\"name\":\"LIFEBOAT_DECRYPTION_KEY\",\"valueFrom\":{"
                                "\"secretKeyRef\":{\"name\":\"bk\",\"key\":\"k\"}}"));
    /* the object validate resolved, the item's flags */
    assert_non_null(strstr(job, "\"lifeboat-agent\",\"pg-restore\",\"--bucket\",\"backups\","
                                "\"--key\",\"pg/shop_1.dump\",\"--manifest\",\"required\""));
    assert_non_null(strstr(job, "\"--table\",\"orders\",\"--table\",\"sales.items\""));
    assert_null(strstr(job, "--verify-only"));
    assert_non_null(strstr(job, "\"automountServiceAccountToken\":false"));
    assert_non_null(strstr(job, "\"uid\":\"uid-111\""));
    assert_non_null(strstr(job, "\"controller\":true"));
    assert_non_null(strstr(job, "\"app.kubernetes.io/managed-by\":\"lifeboat\""));
    assert_non_null(strstr(job, "\"backoffLimit\":0"));
    assert_non_null(strstr(job, "\"emptyDir\":{}"));
    fx_stop(&f);
}

static void test_pgdump_download_job_is_verify_only_without_the_database(void **state)
{
    const char *pairs[] = {"404 Not Found", NOT_FOUND, "201 Created", "{}"};
    fixture f;
    (void)state;
    fx_start(&f, pairs, 2, STATUS_RESOLVED);
    f.step.name = "orders/download";
    assert_int_equal(pgdump_step_download(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_WAIT);
    const char *job = req(&f, 1);
    assert_non_null(strstr(job, "\"name\":\"lb-rr1-orders-download\""));
    assert_non_null(strstr(job, "\"--verify-only\""));
    assert_null(strstr(job, "LIFEBOAT_DB_URL"));
    assert_null(strstr(job, "--table"));
    fx_stop(&f);
}

static void test_pgdump_completed_job_result_is_the_message(void **state)
{
    const char *pairs[] = {
        "200 OK",
        JOB_DONE,
        "200 OK",
        PODS,
        "200 OK",
        "2026 INFO loading\n{\"result\":\"succeeded\",\"object\":\"s3://backups/pg/shop_1.dump\","
        "\"rows\":1234,\"tables\":{\"public.orders\":1234},\"sha256\":\"abc\",\"verified\":true}\n",
    };
    fixture f;
    (void)state;
    fx_start(&f, pairs, 3, STATUS_RESOLVED);
    assert_int_equal(pgdump_step_load(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_DONE);
    assert_non_null(strstr(f.out.message, "1234 rows in 1 tables"));
    assert_non_null(strstr(f.out.message, "verified"));
    assert_non_null(strstr(req(&f, 1), "labelSelector=job-name%3Dlb-rr1-orders-load"));
    assert_non_null(strstr(req(&f, 2), "/pods/lb-rr1-orders-load-x1/log?container=agent"));
    fx_stop(&f);
}

static void test_pgdump_failed_job_fails_with_the_agents_error(void **state)
{
    const char *pairs[] = {
        "200 OK",
        JOB_FAILED,
        "200 OK",
        PODS,
        "200 OK",
        "{\"result\":\"failed\",\"error\":\"s3://backups/pg/shop_1.dump: checksum mismatch\"}\n",
    };
    fixture f;
    (void)state;
    fx_start(&f, pairs, 3, STATUS_RESOLVED);
    assert_int_equal(pgdump_step_load(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_FAILED);
    assert_string_equal(f.out.reason, "LoadFailed");
    assert_non_null(strstr(f.out.message, "checksum mismatch"));
    fx_stop(&f);
}

static void test_pgdump_refuses_foreign_job_and_unresolved_object(void **state)
{
    const char *pairs[] = {"200 OK", "{\"metadata\":{\"name\":\"lb-rr1-orders-load\","
                                     "\"ownerReferences\":[{\"uid\":\"other\"}]}}"};
    fixture f;
    (void)state;
    fx_start(&f, pairs, 1, STATUS_RESOLVED);
    assert_int_equal(pgdump_step_load(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_FAILED);
    assert_string_equal(f.out.reason, "JobNotOwned");
    fx_stop(&f);

    fx_start(&f, pairs, 0, "{\"outputs\":[]}");
    assert_int_equal(pgdump_step_load(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_FAILED);
    assert_string_equal(f.out.reason, "NotValidated");
    assert_int_equal(atomic_load(&f.e.srv.n_requests), 0);
    fx_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pgdump_load_creates_job_with_secrets_only_in_secret_key_refs),
        cmocka_unit_test(test_pgdump_download_job_is_verify_only_without_the_database),
        cmocka_unit_test(test_pgdump_completed_job_result_is_the_message),
        cmocka_unit_test(test_pgdump_failed_job_fails_with_the_agents_error),
        cmocka_unit_test(test_pgdump_refuses_foreign_job_and_unresolved_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
