/* test_steps_job.c - the `job` and fileArchive restore steps against the
 * scripted kube server: the request's Job keeps its template's labels and gets
 * the owner, managed-by label, backoffLimit 0 and the restricted
 * securityContext defaults (not overriding what the template set); a failed
 * Job fails the step with its log tail; a foreign Job is refused; the
 * fileArchive download Job is --verify-only without the volume, the extract
 * Job mounts the claim at its subPath; the agent's result becomes the message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "controller/restore/jobrun.h"
#include "controller/restore/step.h"
#include "util/error.h"

#include "test_kube_fake_server.h"
#include "test_step_fixture.h"

#define JOB_SPEC                                                                                   \
    "{\"job\":{\"destructive\":true,\"timeoutSeconds\":900,\"template\":{\"metadata\":{"           \
    "\"labels\":{\"runbook\":\"004-p2\"}},\"spec\":{\"template\":{\"spec\":{\"containers\":[{"     \
    "\"name\":\"restore\",\"image\":\"postgres:16-alpine\",\"command\":[\"/scripts/r.sh\"],"       \
    "\"securityContext\":{\"allowPrivilegeEscalation\":true}}]}}}}}}"
#define FA_SPEC                                                                                    \
    "{\"fileArchive\":{\"source\":{\"bucket\":\"backups\",\"key\":\"f/latest.tar.gz.enc\"},"       \
    "\"manifest\":\"required\",\"decryption\":{\"keySecretRef\":{\"name\":\"bk\",\"key\":\"k\"}},"  \
    "\"target\":{\"persistentVolumeClaim\":\"files\",\"subPath\":\"app\"}}}"
#define FA_RESOLVED                                                                                \
    "{\"outputs\":[{\"item\":\"files\",\"location\":\"s3://backups/f/latest.tar.gz.enc\"}]}"
#define JOB_FAILED                                                                                 \
    "{\"metadata\":{\"name\":\"lb-rr1-files-run\"," OWNED "},\"status\":{\"conditions\":[{"        \
    "\"type\":\"Failed\",\"status\":\"True\",\"reason\":\"BackoffLimitExceeded\"}]}}"
#define JOB_DONE                                                                                   \
    "{\"metadata\":{\"name\":\"lb-rr1-files-extract\"," OWNED "},\"status\":{\"conditions\":[{"    \
    "\"type\":\"Complete\",\"status\":\"True\"}]}}"
#define PODS                                                                                       \
    "{\"items\":[{\"metadata\":{\"name\":\"p1\",\"creationTimestamp\":\"2026-11-21T01:00:00Z\"}}]}"


/* item files (a job or fileArchive: its spec under `field`) at its run step. */
static void fx_start(fixture *f, const char *const *pairs, size_t n, const char *status,
                     const char *item_spec, api_source source, const char *field)
{
    fx_init(f, pairs, n, status, item_spec, "files", source, field, "files/run");
    f->item.target_id = "PersistentVolumeClaim files/app";
}




static void test_job_run_creates_the_templates_job_with_restricted_defaults(void **state)
{
    const char *pairs[] = {"404 Not Found", NOT_FOUND, "201 Created", "{}"};
    fixture f;
    (void)state;
    fx_start(&f, pairs, 2, "{}", JOB_SPEC, API_SOURCE_JOB, "job");
    assert_int_equal(job_step_run(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_WAIT);
    assert_non_null(strstr(req(&f, 0), "GET /apis/batch/v1/namespaces/shop/jobs/lb-rr1-files-run "));
    const char *job = req(&f, 1);
    assert_non_null(strstr(job, "POST /apis/batch/v1/namespaces/shop/jobs "));
    assert_non_null(strstr(job, "\"runbook\":\"004-p2\""));
    assert_non_null(strstr(job, "\"app.kubernetes.io/managed-by\":\"lifeboat\""));
    assert_non_null(strstr(job, "\"uid\":\"uid-111\""));
    assert_non_null(strstr(job, "\"backoffLimit\":0"));
    assert_non_null(strstr(job, "\"activeDeadlineSeconds\":900"));
    assert_non_null(strstr(job, "\"restartPolicy\":\"Never\""));
    assert_non_null(strstr(job, "\"runAsNonRoot\":true"));
    assert_non_null(strstr(job, "\"type\":\"RuntimeDefault\""));
    assert_non_null(strstr(job, "\"drop\":[\"ALL\"]"));
    /* what the template set is kept */
    assert_non_null(strstr(job, "\"allowPrivilegeEscalation\":true"));
    assert_null(strstr(job, "\"allowPrivilegeEscalation\":false"));
    fx_stop(&f);
}

static void test_job_failed_fails_with_its_log_tail(void **state)
{
    const char *pairs[] = {"200 OK", JOB_FAILED, "200 OK", PODS, "200 OK",
                           "restoring\npg_basebackup: error: refused postgresql://u:pw@h/db\n"};
    fixture f;
    (void)state;
    fx_start(&f, pairs, 3, "{}", JOB_SPEC, API_SOURCE_JOB, "job");
    assert_int_equal(job_step_run(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_FAILED);
    assert_string_equal(f.out.reason, "JobFailed");
    assert_non_null(strstr(f.out.message, "BackoffLimitExceeded"));
    assert_non_null(strstr(f.out.message, "last log lines: restoring pg_basebackup: error"));
    assert_null(strstr(f.out.message, "pw@")); /* URL credentials redacted */
    assert_non_null(strstr(req(&f, 2), "container=restore"));
    fx_stop(&f);
}

static void test_job_foreign_job_is_refused(void **state)
{
    const char *pairs[] = {"200 OK", "{\"metadata\":{\"name\":\"lb-rr1-files-run\","
                                     "\"ownerReferences\":[{\"uid\":\"other\"}]}}"};
    fixture f;
    (void)state;
    fx_start(&f, pairs, 1, "{}", JOB_SPEC, API_SOURCE_JOB, "job");
    assert_int_equal(job_step_validate(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_FAILED);
    assert_string_equal(f.out.reason, "JobNotOwned");
    fx_stop(&f);
}

static void test_file_archive_download_is_verify_only_without_the_volume(void **state)
{
    const char *pairs[] = {"404 Not Found", NOT_FOUND, "201 Created", "{}"};
    fixture f;
    (void)state;
    fx_start(&f, pairs, 2, FA_RESOLVED, FA_SPEC, API_SOURCE_FILE_ARCHIVE, "fileArchive");
    assert_int_equal(filearchive_step_download(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_WAIT);
    const char *job = req(&f, 1);
    assert_non_null(strstr(job, "\"lifeboat-agent\",\"archive-restore\",\"--bucket\",\"backups\","
                                "\"--key\",\"f/latest.tar.gz.enc\",\"--manifest\",\"required\","
                                "\"--verify-only\""));
    assert_null(strstr(job, "persistentVolumeClaim"));
    assert_non_null(strstr(job, "\"name\":\"LIFEBOAT_DECRYPTION_KEY\",\"valueFrom\":{"
                                "\"secretKeyRef\":{\"name\":\"bk\",\"key\":\"k\"}}"));
    fx_stop(&f);
}

static void test_file_archive_extract_mounts_the_claim_at_its_sub_path(void **state)
{
    const char *pairs[] = {"404 Not Found", NOT_FOUND, "201 Created", "{}"};
    fixture f;
    (void)state;
    fx_start(&f, pairs, 2, FA_RESOLVED, FA_SPEC, API_SOURCE_FILE_ARCHIVE, "fileArchive");
    assert_int_equal(filearchive_step_extract(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_WAIT);
    assert_non_null(strstr(req(&f, 0), "/jobs/lb-rr1-files-extract "));
    const char *job = req(&f, 1);
    assert_non_null(strstr(job, "\"--target\",\"/var/lib/lifeboat-target\""));
    assert_null(strstr(job, "--verify-only"));
    assert_non_null(strstr(job, "\"mountPath\":\"/var/lib/lifeboat-target\""));
    assert_non_null(strstr(job, "\"subPath\":\"app\""));
    assert_non_null(strstr(job, "\"persistentVolumeClaim\":{\"claimName\":\"files\"}"));
    fx_stop(&f);
}

static void test_file_archive_result_is_the_message(void **state)
{
    const char *pairs[] = {
        "200 OK", JOB_DONE, "200 OK", PODS, "200 OK",
        "progress 100%\n{\"result\":\"succeeded\",\"object\":\"s3://backups/f/latest.tar.gz.enc\","
        "\"sha256\":\"abc\",\"verified\":true,\"files\":3,\"extractedBytes\":42}\n"};
    fixture f;
    (void)state;
    fx_start(&f, pairs, 3, FA_RESOLVED, FA_SPEC, API_SOURCE_FILE_ARCHIVE, "fileArchive");
    assert_int_equal(filearchive_step_extract(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_DONE);
    assert_string_equal(f.out.message,
                        "extracted s3://backups/f/latest.tar.gz.enc into PersistentVolumeClaim "
                        "files/app: 3 files, 42 bytes (sha256 abc, verified)");
    fx_stop(&f);
}

static void test_jobrun_result_and_tail(void **state)
{
    (void)state;
    json_t *r = jobrun_result("a\n{\"x\":1}\nnot json {\n{\"result\":\"ok\"}\ntrailer\n");
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "result")), "ok");
    json_decref(r);
    assert_null(jobrun_result("no json here\n"));
    assert_null(jobrun_result(NULL));
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    big[10] = '\n';
    big[11] = '\x01';
    char *t = jobrun_log_tail(big);
    assert_int_equal(strlen(t), JOBRUN_LOG_KEEP + 3);
    assert_memory_equal(t, "...", 3);
    free(t);
    t = jobrun_log_tail("a\tb\n\x02");
    assert_string_equal(t, "a b ?");
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_run_creates_the_templates_job_with_restricted_defaults),
        cmocka_unit_test(test_job_failed_fails_with_its_log_tail),
        cmocka_unit_test(test_job_foreign_job_is_refused),
        cmocka_unit_test(test_file_archive_download_is_verify_only_without_the_volume),
        cmocka_unit_test(test_file_archive_extract_mounts_the_claim_at_its_sub_path),
        cmocka_unit_test(test_file_archive_result_is_the_message),
        cmocka_unit_test(test_jobrun_result_and_tail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
