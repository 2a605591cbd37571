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
#include "test_step_fixture.h"

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


/* pgDump item orders at its load step, with the given status. */
static void fx_start(fixture *f, const char *const *pairs, size_t n, const char *status)
{
    fx_init(f, pairs, n, status, ITEM_SPEC, "orders", API_SOURCE_PG_DUMP, "pgDump", "orders/load");
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
