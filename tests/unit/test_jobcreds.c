/* test_jobcreds.c - the AWS session of a request's agent Job under a scope
 * role (restore/jobcreds.h): the decision (mint / renew / not yet / foreign /
 * leave a finished Job alone), the Secret's expiry (a key for the agent, an
 * annotation for the operator), a pgDump Job minted a session before it
 * exists and mounting it (a fileArchive Job alike), a running Job's session renewed within the
 * margin and left alone before it, and the duration flag reaching DurationSeconds. Scripted kube
 * server (test_kube_fake_server.h) and STS (test_aws_httpd.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "controller/agentjob.h"
#include "controller/restore/jobcreds.h"
#include "controller/restore/step.h"
#include "util/error.h"

#include "test_aws_httpd.h"
#include "test_kube_fake_server.h"
#include "test_step_fixture.h"

#define ITEM_SPEC                                                                                  \
    "{\"pgDump\":{\"source\":{\"bucket\":\"backups\",\"key\":\"pg/shop_1.dump\"},\"target\":{"     \
    "\"connectionSecretRef\":{\"name\":\"db\",\"key\":\"url\"}}}}"
#define STATUS_RESOLVED                                                                            \
    "{\"outputs\":[{\"item\":\"orders\",\"location\":\"s3://backups/pg/shop_1.dump\"}]}"
#define ROLE      "arn:aws:iam::123456789012:role/team-r"
#define NOW       1796086800LL /* 2026-12-01T01:00:00Z */
#define JOB_NAME  "lb-rr1-orders-load"
#define SECRET    "lb-rr1-orders-load-aws"
#define JOB_OURS  "{\"metadata\":{\"name\":\"" JOB_NAME "\"," OWNED "},\"status\":{\"active\":1}}"
#define JOB_OTHER "{\"metadata\":{\"name\":\"" JOB_NAME "\"},\"status\":{\"active\":1}}"
#define JOB_DONE                                                                                   \
    "{\"metadata\":{\"name\":\"" JOB_NAME "\"," OWNED "},\"status\":{\"conditions\":[{\"type\":"   \
    "\"Complete\",\"status\":\"True\"}]}}"
#define SECRET_EXPIRING(at)                                                                        \
    "{\"metadata\":{\"name\":\"" SECRET "\",\"resourceVersion\":\"7\",\"annotations\":{"           \
    "\"lifeboat.dev/aws-session-expiry\":\"" at "\"}," OWNED "}}"
#define SECRET_OTHER     "{\"metadata\":{\"name\":\"" SECRET "\"}}"
#define SECRET_NO_EXPIRY "{\"metadata\":{\"name\":\"" SECRET "\"," OWNED "}}"
#define ASSUMED                                                                                    \
    "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIARENEWED</AccessKeyId>"    \
    "<SecretAccessKey>newsecret</SecretAccessKey><SessionToken>newtoken</SessionToken>"            \
    "<Expiration>2026-12-01T01:15:00Z</Expiration></Credentials></AssumeRoleResult>"               \
    "</AssumeRoleResponse>"

static json_t *js(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    return j;
}

/* ---- the decision -------------------------------------------------------------------- */

static void test_jobcreds_decide_mint_renew_keep_and_foreign(void **state)
{
    enum { NONE, OURS, OTHER, DONE };                   /* the Job */
    enum { ABSENT, SOON, EDGE, LATER, FOREIGN, NOEXP }; /* its Secret */
    const char *jobs[] = {NULL, JOB_OURS, JOB_OTHER, JOB_DONE};
    const char *secrets[] = {NULL,
                             SECRET_EXPIRING("2026-12-01T01:19:59Z"), /* 1199 s left */
                             SECRET_EXPIRING("2026-12-01T01:20:00Z"), /* exactly the margin */
                             SECRET_EXPIRING("2026-12-01T01:20:01Z"), /* 1201 s left */
                             SECRET_OTHER,
                             SECRET_NO_EXPIRY};
    static const struct {
        int job, secret;
        long long margin;
        jobcreds_action want;
    } cases[] = {
        /* no Job yet: mint (a leftover Secret of ours is replaced), unless foreign */
        {NONE, ABSENT, 1200, JOBCREDS_MINT},
        {NONE, LATER, 1200, JOBCREDS_MINT},
        {NONE, FOREIGN, 1200, JOBCREDS_FOREIGN},
        /* a running Job of ours: renewed within the margin, not before */
        {OURS, SOON, 1200, JOBCREDS_MINT},
        {OURS, EDGE, 1200, JOBCREDS_MINT},
        {OURS, LATER, 1200, JOBCREDS_KEEP},
        {OURS, LATER, 1202, JOBCREDS_MINT},
        /* its Secret gone or without a readable expiry: minted again */
        {OURS, ABSENT, 1200, JOBCREDS_MINT},
        {OURS, NOEXP, 1200, JOBCREDS_MINT},
        /* someone else's Secret is never replaced */
        {OURS, FOREIGN, 1200, JOBCREDS_FOREIGN},
        /* a finished Job needs no session; a Job not ours is agentjob_run's to refuse */
        {DONE, SOON, 1200, JOBCREDS_KEEP},
        {OTHER, SOON, 1200, JOBCREDS_KEEP},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *job = jobs[cases[i].job] ? js(jobs[cases[i].job]) : NULL;
        json_t *sec = secrets[cases[i].secret] ? js(secrets[cases[i].secret]) : NULL;
        jobcreds_action got = jobcreds_decide(job, sec, "uid-111", NOW, cases[i].margin);
        if (got != cases[i].want)
            fail_msg("case %zu: got %d, want %d", i, (int)got, (int)cases[i].want);
        json_decref(job);
        json_decref(sec);
    }
}

static void test_jobcreds_secret_carries_the_expiry_as_key_and_annotation(void **state)
{
    agentjob_spec s = {.name = JOB_NAME,
                       .ns = "shop",
                       .owner_api = "lifeboat.dev/v1alpha1",
                       .owner_kind = "RestoreRequest",
                       .owner_name = "rr1",
                       .owner_uid = "uid-111",
                       .annotation = "lifeboat.dev/restore-request",
                       .aws_secret = SECRET};
    aws_credentials cr = {.access_key_id = "ASIAJOB",
                          .secret_access_key = "sekrit",
                          .session_token = "tok",
                          .expiration = NOW + 3600};
    json_t *sec = agentjob_aws_secret(&s, &cr);
    (void)state;

    const json_t *data = json_object_get(sec, "stringData");
    assert_int_equal(json_object_size(data), 4);
    assert_string_equal(json_string_value(json_object_get(data, AGENTJOB_AWS_EXPIRY_KEY)),
                        "2026-12-01T02:00:00Z");
    const json_t *ann = json_object_get(json_object_get(sec, "metadata"), "annotations");
    assert_string_equal(json_string_value(json_object_get(ann, AGENTJOB_AWS_EXPIRY_ANN)),
                        "2026-12-01T02:00:00Z");
    /* the decision reads what was written: 60 min left is not within 20 */
    json_t *job = js(JOB_OURS);
    assert_int_equal(jobcreds_decide(job, sec, "uid-111", NOW, 1200), JOBCREDS_KEEP);
    assert_int_equal(jobcreds_decide(job, sec, "uid-111", NOW + 2400, 1200), JOBCREDS_MINT);
    json_decref(job);
    json_decref(sec);
}

/* ---- against the servers -------------------------------------------------------------- */

typedef struct sts {
    httpd srv;
    aws_client *aws;
    aws_credentials_provider *creds;
} sts;

static void start(fixture *f, sts *s, const char *const *pairs, size_t n, char *step)
{
    fx_init(f, pairs, n, STATUS_RESOLVED, ITEM_SPEC, "orders", API_SOURCE_PG_DUMP, "pgDump", step);
    memset(s, 0, sizeof(*s));
    httpd_start(&s->srv);
    httpd_script(&s->srv, 200, "Content-Type: text/xml\r\n", ASSUMED);
    httpd_client(&s->aws, &s->creds, &s->srv, 1);
    f->ctx.aws = s->aws;
    f->ctx.aws_base = s->aws;
    f->ctx.role_arn = ROLE;
    f->ctx.now.sec = NOW;
}

static void stop(fixture *f, sts *s)
{
    aws_client_free(s->aws);
    aws_credentials_provider_free(s->creds);
    httpd_stop(&s->srv);
    fx_stop(f);
    jobcreds_configure(JOBCREDS_DURATION_DEFAULT_S, JOBCREDS_MARGIN_DEFAULT_S);
}

static void test_jobcreds_pgdump_job_gets_a_session_first_and_mounts_it(void **state)
{
    const char *pairs[] = {"404 Not Found", NOT_FOUND, "201 Created", "{}",
                           "404 Not Found", NOT_FOUND, "201 Created", "{}"};
    fixture f;
    sts s;
    (void)state;

    start(&f, &s, pairs, 4, "orders/load");
    jobcreds_configure(900, 600);
    assert_int_equal(pgdump_step_load(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_WAIT);
    assert_int_equal(s.srv.nrequests, 1);
    const char *body = httpd_req_body(&s.srv, 0);
    assert_non_null(strstr(body, "Action=AssumeRole&"));
    assert_non_null(strstr(body, "RoleSessionName=lb-shop-lb-rr1-orders-load&"));
    assert_non_null(strstr(body, "DurationSeconds=900")); /* the flag's value */
    const char *sec = req(&f, 1);
    assert_non_null(strstr(sec, "POST /api/v1/namespaces/shop/secrets "));
    assert_non_null(strstr(sec, "\"AWS_ACCESS_KEY_ID\":\"ASIARENEWED\""));
    assert_non_null(strstr(sec, "\"lifeboat.dev/aws-session-expiry\":\"2026-12-01T01:15:00Z\""));
    const char *job = req(&f, 3);
    assert_non_null(strstr(job, "POST /apis/batch/v1/namespaces/shop/jobs "));
    assert_non_null(strstr(job, "\"secret\":{\"secretName\":\"" SECRET "\"}"));
    assert_null(strstr(job, "lifeboat-agent-aws"));
    assert_null(strstr(job, "newsecret"));
    assert_null(strstr(f.out.message, "newsecret"));
    stop(&f, &s);
}

static void test_jobcreds_filearchive_job_gets_a_session_first_and_mounts_it(void **state)
{
    const char *pairs[] = {"404 Not Found", NOT_FOUND, "201 Created", "{}",
                           "404 Not Found", NOT_FOUND, "201 Created", "{}"};
    fixture f;
    sts s;
    (void)state;

    fx_init(&f, pairs, 4,
            "{\"outputs\":[{\"item\":\"files\",\"location\":\"s3://backups/fa/app.tar.gz\"}]}",
            "{\"fileArchive\":{\"source\":{\"bucket\":\"backups\",\"key\":\"fa/app.tar.gz\"},"
            "\"target\":{\"persistentVolumeClaim\":\"app-data\"}}}",
            "files", API_SOURCE_FILE_ARCHIVE, "fileArchive", "files/download");
    memset(&s, 0, sizeof(s));
    httpd_start(&s.srv);
    httpd_script(&s.srv, 200, "Content-Type: text/xml\r\n", ASSUMED);
    httpd_client(&s.aws, &s.creds, &s.srv, 1);
    f.ctx.aws = f.ctx.aws_base = s.aws;
    f.ctx.role_arn = ROLE;
    f.ctx.now.sec = NOW;
    assert_int_equal(filearchive_step_download(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_WAIT);
    assert_int_equal(s.srv.nrequests, 1);
    assert_non_null(
        strstr(httpd_req_body(&s.srv, 0), "RoleSessionName=lb-shop-lb-rr1-files-download&"));
    assert_non_null(strstr(req(&f, 1), "POST /api/v1/namespaces/shop/secrets "));
    assert_non_null(strstr(req(&f, 1), "\"name\":\"lb-rr1-files-download-aws\""));
    const char *job = req(&f, 3);
    assert_non_null(strstr(job, "POST /apis/batch/v1/namespaces/shop/jobs "));
    assert_non_null(strstr(job, "\"secret\":{\"secretName\":\"lb-rr1-files-download-aws\"}"));
    assert_null(strstr(job, "lifeboat-agent-aws"));
    stop(&f, &s);
}

static void test_jobcreds_running_job_renewed_within_the_margin(void **state)
{
    const char *pairs[] = {
        "200 OK",       JOB_OURS, "200 OK", SECRET_EXPIRING("2026-12-01T01:10:00Z"),
        "409 Conflict", "{}",     "200 OK", SECRET_EXPIRING("2026-12-01T01:10:00Z"),
        "200 OK",       "{}",     "200 OK", JOB_OURS};
    fixture f;
    sts s;
    (void)state;

    start(&f, &s, pairs, 6, "orders/load");
    assert_int_equal(pgdump_step_load(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_WAIT);
    assert_int_equal(s.srv.nrequests, 1); /* a second AssumeRole for the running Job */
    assert_non_null(strstr(httpd_req_body(&s.srv, 0), "DurationSeconds=3600"));
    const char *put = req(&f, 4);
    /* a merge patch: the operator's RBAC has no update on Secrets */
    assert_non_null(strstr(put, "PATCH /api/v1/namespaces/shop/secrets/" SECRET " "));
    assert_non_null(strstr(put, "application/merge-patch+json"));
    assert_non_null(strstr(put, "\"resourceVersion\":\"7\""));
    assert_non_null(strstr(put, "\"AWS_ACCESS_KEY_ID\":\"ASIARENEWED\""));
    assert_non_null(strstr(put, "\"AWS_CREDENTIAL_EXPIRATION\":\"2026-12-01T01:15:00Z\""));
    assert_non_null(strstr(req(&f, 5), "GET /apis/batch/v1/namespaces/shop/jobs/" JOB_NAME " "));
    assert_int_equal(atomic_load(&f.e.srv.n_requests), 6); /* no second Job */
    stop(&f, &s);
}

static void test_jobcreds_a_failed_renewal_keeps_the_step_waiting(void **state)
{
    const char *pairs[] = {"200 OK", JOB_OURS, "200 OK", SECRET_EXPIRING("2026-12-01T01:10:00Z"),
                           "200 OK", JOB_OURS};
    fixture f;
    sts s;
    (void)state;

    start(&f, &s, pairs, 3, "orders/load");
    s.srv.nscript = 0; /* STS refuses: AccessDenied (not retried) */
    httpd_script(&s.srv, 403, "Content-Type: text/xml\r\n",
                 "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>"
                 "not now</Message></Error></ErrorResponse>");
    assert_int_equal(pgdump_step_load(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_WAIT); /* still observing the Job */
    assert_int_equal(s.srv.nrequests, 1);
    assert_int_equal(atomic_load(&f.e.srv.n_requests), 3); /* no Secret written */
    assert_non_null(strstr(req(&f, 2), "GET /apis/batch/v1/namespaces/shop/jobs/" JOB_NAME " "));
    stop(&f, &s);
}

static void test_jobcreds_running_job_not_renewed_before_the_margin(void **state)
{
    const char *pairs[] = {"200 OK", JOB_OURS, "200 OK", SECRET_EXPIRING("2026-12-01T01:50:00Z"),
                           "200 OK", JOB_OURS};
    fixture f;
    sts s;
    (void)state;

    start(&f, &s, pairs, 3, "orders/load");
    assert_int_equal(pgdump_step_load(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_WAIT);
    assert_int_equal(s.srv.nrequests, 0);                  /* no AssumeRole */
    assert_int_equal(atomic_load(&f.e.srv.n_requests), 3); /* no Secret written */
    stop(&f, &s);
}

static void test_jobcreds_foreign_secret_of_a_running_job_fails_untouched(void **state)
{
    const char *pairs[] = {"200 OK", JOB_OURS, "200 OK", SECRET_OTHER};
    fixture f;
    sts s;
    (void)state;

    start(&f, &s, pairs, 2, "orders/load");
    assert_int_equal(pgdump_step_load(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_FAILED);
    assert_string_equal(f.out.reason, "SecretNotOwned");
    assert_non_null(strstr(f.out.message, SECRET));
    assert_int_equal(s.srv.nrequests, 0);
    assert_int_equal(atomic_load(&f.e.srv.n_requests), 2);
    stop(&f, &s);
}

static void test_jobcreds_without_a_role_nothing_is_minted(void **state)
{
    const char *pairs[] = {"404 Not Found", NOT_FOUND, "201 Created", "{}"};
    fixture f;
    sts s;
    (void)state;

    start(&f, &s, pairs, 2, "orders/load");
    f.ctx.role_arn = NULL;
    assert_int_equal(pgdump_step_load(&f.out, &f.ctx), 0);
    assert_int_equal(s.srv.nrequests, 0);
    assert_non_null(strstr(req(&f, 1), "\"secretRef\":{\"name\":\"lifeboat-agent-aws\""));
    assert_null(strstr(req(&f, 1), "LIFEBOAT_AWS_SESSION_DIR"));
    stop(&f, &s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobcreds_decide_mint_renew_keep_and_foreign),
        cmocka_unit_test(test_jobcreds_secret_carries_the_expiry_as_key_and_annotation),
        cmocka_unit_test(test_jobcreds_pgdump_job_gets_a_session_first_and_mounts_it),
        cmocka_unit_test(test_jobcreds_filearchive_job_gets_a_session_first_and_mounts_it),
        cmocka_unit_test(test_jobcreds_running_job_renewed_within_the_margin),
        cmocka_unit_test(test_jobcreds_a_failed_renewal_keeps_the_step_waiting),
        cmocka_unit_test(test_jobcreds_running_job_not_renewed_before_the_margin),
        cmocka_unit_test(test_jobcreds_foreign_secret_of_a_running_job_fails_untouched),
        cmocka_unit_test(test_jobcreds_without_a_role_nothing_is_minted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
