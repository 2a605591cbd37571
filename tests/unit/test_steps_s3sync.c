/* test_steps_s3sync.c - s3Sync's Job mode (restore/steps_s3sync.c): the mode
 * decided from listings stopped past the threshold (scripted S3,
 * test_aws_httpd.h), the Indexed Job's shards, command and env, and the sync
 * and verify steps observing an existing Job without listing anything
 * (scripted kube server, test_step_fixture.h): progress from its status, a
 * failed index's agent error, never a second Job; and each side's region:
 * the source listed in sourceRegion, the target listed and copied into in
 * targetRegion (the SigV4 scope of every request), a bucket of another region
 * failing validate with the field to set and the region from S3's 301. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "controller/agentjob.h"
#include "controller/restore/step.h"
#include "util/error.h"

#include "test_aws_httpd.h"
#include "test_kube_fake_server.h"
#include "test_step_fixture.h"

int steps_s3sync__shards(size_t src_keys, size_t dst_keys, size_t max_keys);
json_t *steps_s3sync__job(const agentjob_spec *spec, const json_t *s3, int shards);

#define ITEM_SPEC                                                                                  \
    "{\"s3Sync\":{\"sourceBucket\":\"media-replica\",\"targetBucket\":\"media\",\"prefix\":"       \
    "\"img/\",\"deleteExtraneous\":true,\"concurrency\":10}}"
#define JOB_META "\"metadata\":{\"name\":\"lb-rr1-media-sync\"," OWNED "}"
#define JOB_RUNNING                                                                                \
    "{" JOB_META ",\"spec\":{\"completions\":3,\"completionMode\":\"Indexed\"},\"status\":{"       \
    "\"succeeded\":1,\"active\":2}}"
#define JOB_COMPLETE                                                                               \
    "{" JOB_META ",\"spec\":{\"completions\":3},\"status\":{\"succeeded\":3,\"conditions\":[{"     \
    "\"type\":\"Complete\",\"status\":\"True\"}]}}"
#define JOB_FAILED                                                                                 \
    "{" JOB_META ",\"spec\":{\"completions\":3},\"status\":{\"succeeded\":1,\"failed\":1,"         \
    "\"conditions\":[{\"type\":\"Failed\",\"status\":\"True\"}]}}"
/* index 1 failed first; index 2's pod, newer, succeeded */
#define PODS                                                                                       \
    "{\"items\":[{\"metadata\":{\"name\":\"lb-rr1-media-sync-1-abc\",\"creationTimestamp\":"       \
    "\"2026-12-01T01:00:00Z\"},\"status\":{\"phase\":\"Failed\"}},{\"metadata\":{\"name\":"        \
    "\"lb-rr1-media-sync-2-def\",\"creationTimestamp\":\"2026-12-01T01:00:05Z\"},\"status\":{"     \
    "\"phase\":\"Succeeded\"}}]}"
#define FAILED_LOG                                                                                 \
    "s3-sync failed\n{\"result\":\"failed\",\"error\":\"CopyObject img/7.jpg: AccessDenied\"}\n"

/* the Job of rr1's item media, as the steps name and own it */
#define JOB_SPEC                                                                                   \
    {                                                                                              \
        .name = "lb-rr1-media-sync", .ns = "shop", .owner_api = "lifeboat.dev/v1alpha1",           \
        .owner_kind = "RestoreRequest", .owner_name = "rr1", .owner_uid = "uid-111",               \
        .annotation = "lifeboat.dev/restore-request"                                               \
    }

#define OBJ(key, size)                                                                             \
    "<Contents><Key>" key "</Key><Size>" size "</Size><ETag>&quot;e" size "&quot;</ETag>"          \
    "<LastModified>2026-12-01T01:00:00.000Z</LastModified></Contents>"
#define LISTING(objs)                                                                              \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://"                \
    "s3.amazonaws.com/doc/2006-03-01/\"><IsTruncated>false</IsTruncated>" objs                     \
    "</ListBucketResult>"
#define THREE LISTING(OBJ("img/1.jpg", "1") OBJ("img/2.jpg", "2") OBJ("img/3.jpg", "3"))
#define TWO   LISTING(OBJ("img/1.jpg", "1") OBJ("img/2.jpg", "2"))
#define ONE   LISTING(OBJ("img/1.jpg", "1"))

static void fx_start(fixture *f, const char *const *pairs, size_t n, char *step)
{
    fx_init(f, pairs, n, "{}", ITEM_SPEC, "media", API_SOURCE_S3_SYNC, "s3Sync", step);
}

/* ---- the mode and the Job object ----------------------------------------------------- */

static void test_s3sync_shards_follow_the_larger_side_between_2_and_8(void **state)
{
    (void)state;
    assert_int_equal(steps_s3sync__shards(60, 53, 20), 3);
    assert_int_equal(steps_s3sync__shards(21, 0, 20), 2);  /* at least 2 */
    assert_int_equal(steps_s3sync__shards(10, 41, 20), 3); /* the target counts too */
    assert_int_equal(steps_s3sync__shards(1000, 0, 20), 8);
    assert_int_equal(steps_s3sync__shards(100001, 0, 100000), 8); /* past the count: most */
    assert_int_equal(steps_s3sync__shards(100000, 0, 60000), 2);
}

static void test_s3sync_job_is_indexed_with_shards_env_and_the_agent_command(void **state)
{
    const agentjob_spec s = JOB_SPEC;
    json_t *item = json_loads(ITEM_SPEC, 0, NULL);
    json_t *job, *spec, *c, *expect;
    (void)state;

    unsetenv("LIFEBOAT_AGENT_IMAGE");
    job = steps_s3sync__job(&s, json_object_get(item, "s3Sync"), 3);
    spec = json_object_get(job, "spec");
    assert_string_equal(json_string_value(json_object_get(spec, "completionMode")), "Indexed");
    assert_int_equal(json_integer_value(json_object_get(spec, "completions")), 3);
    assert_int_equal(json_integer_value(json_object_get(spec, "parallelism")), 3);
    assert_int_equal(json_integer_value(json_object_get(spec, "backoffLimit")), 0);
    c = json_array_get(
        json_object_get(json_object_get(json_object_get(spec, "template"), "spec"), "containers"),
        0);
    expect = json_pack("[s, s, s, s, s, s, s, s, s, s, s]", "lifeboat-agent", "s3-sync",
                       "--source-bucket", "media-replica", "--target-bucket", "media", "--prefix",
                       "img/", "--delete-extraneous", "--concurrency", "10");
    assert_true(json_equal(json_object_get(c, "command"), expect));
    json_decref(expect);
    const json_t *ev = json_array_get(json_object_get(c, "env"), 0);
    assert_string_equal(json_string_value(json_object_get(ev, "name")), "LIFEBOAT_SHARDS");
    assert_string_equal(json_string_value(json_object_get(ev, "value")), "3");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(job, "metadata"), "annotations"),
                            "lifeboat.dev/restore-request")),
                        "shop/rr1");
    json_decref(job);

    /* more shards than pods at once; no prefix, extras kept, default concurrency */
    json_object_del(json_object_get(item, "s3Sync"), "prefix");
    json_object_del(json_object_get(item, "s3Sync"), "concurrency");
    json_object_set_new(json_object_get(item, "s3Sync"), "deleteExtraneous", json_false());
    job = steps_s3sync__job(&s, json_object_get(item, "s3Sync"), 12);
    spec = json_object_get(job, "spec");
    assert_int_equal(json_integer_value(json_object_get(spec, "completions")), 12);
    assert_int_equal(json_integer_value(json_object_get(spec, "parallelism")), 8);
    c = json_array_get(
        json_object_get(json_object_get(json_object_get(spec, "template"), "spec"), "containers"),
        0);
    expect = json_pack("[s, s, s, s, s, s, s, s]", "lifeboat-agent", "s3-sync", "--source-bucket",
                       "media-replica", "--target-bucket", "media", "--concurrency", "16");
    assert_true(json_equal(json_object_get(c, "command"), expect));
    json_decref(expect);
    json_decref(job);
    json_decref(item);
}

/* The container of a Job object. */
static const json_t *container_of(const json_t *job)
{
    return json_array_get(
        json_object_get(
            json_object_get(json_object_get(json_object_get(job, "spec"), "template"), "spec"),
            "containers"),
        0);
}

/* The secretKeyRef {name, key} of env entry `name` of c, or NULL. */
static const json_t *env_ref(const json_t *c, const char *name)
{
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(c, "env"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "name")) ?: "", name) == 0)
            return json_object_get(json_object_get(e, "valueFrom"), "secretKeyRef");
    }
    return NULL;
}

static void
test_s3sync_job_reads_the_scope_role_session_secret_else_lifeboat_agent_aws(void **state)
{
    static const char *const keys[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                       "AWS_SESSION_TOKEN"};
    agentjob_spec s = JOB_SPEC;
    json_t *item = json_loads(ITEM_SPEC, 0, NULL);
    json_t *job;
    const json_t *c;
    (void)state;

    /* no scope role: the namespace's lifeboat-agent-aws, no per-Job Secret */
    job = steps_s3sync__job(&s, json_object_get(item, "s3Sync"), 2);
    c = container_of(job);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(c, "envFrom"), 0), "secretRef"),
            "name")),
        "lifeboat-agent-aws");
    for (size_t i = 0; i < 3; i++)
        assert_null(env_ref(c, keys[i]));
    json_decref(job);

    /* a scope role: the Job's own Secret mounted as a volume (renewable), no
     * envFrom and no key in env (env would never change) */
    s.aws_secret = "lb-rr1-media-sync-aws";
    job = steps_s3sync__job(&s, json_object_get(item, "s3Sync"), 2);
    c = container_of(job);
    assert_null(json_object_get(c, "envFrom"));
    for (size_t i = 0; i < 3; i++)
        assert_null(env_ref(c, keys[i]));
    const json_t *vol = json_array_get(
        json_object_get(
            json_object_get(json_object_get(json_object_get(job, "spec"), "template"), "spec"),
            "volumes"),
        1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(vol, "secret"), "secretName")),
        "lb-rr1-media-sync-aws");
    const json_t *vm = json_array_get(json_object_get(c, "volumeMounts"), 1);
    assert_string_equal(json_string_value(json_object_get(vm, "name")),
                        json_string_value(json_object_get(vol, "name")));
    assert_string_equal(json_string_value(json_object_get(vm, "mountPath")),
                        AGENTJOB_AWS_SESSION_DIR);
    assert_true(json_is_true(json_object_get(vm, "readOnly")));
    char *dump = json_dumps(c, JSON_COMPACT);
    assert_non_null(
        strstr(dump, "{\"name\":\"LIFEBOAT_AWS_SESSION_DIR\",\"value\":\"" AGENTJOB_AWS_SESSION_DIR
                     "\"}"));
    free(dump);
    json_decref(job);
    json_decref(item);
}

static void test_s3sync_session_secret_is_owned_by_the_request_with_the_three_keys(void **state)
{
    agentjob_spec s = JOB_SPEC;
    aws_credentials cr = {
        .access_key_id = "ASIAJOB", .secret_access_key = "sekrit", .session_token = "tok"};
    char name[64];
    json_t *sec;
    const json_t *md, *ref, *data;
    (void)state;

    agentjob_aws_secret_name(name, sizeof(name), s.name);
    assert_string_equal(name, "lb-rr1-media-sync-aws");
    s.aws_secret = name;
    sec = agentjob_aws_secret(&s, &cr);
    assert_string_equal(json_string_value(json_object_get(sec, "kind")), "Secret");
    md = json_object_get(sec, "metadata");
    assert_string_equal(json_string_value(json_object_get(md, "name")), name);
    assert_string_equal(json_string_value(json_object_get(md, "namespace")), "shop");
    ref = json_array_get(json_object_get(md, "ownerReferences"), 0);
    assert_string_equal(json_string_value(json_object_get(ref, "kind")), "RestoreRequest");
    assert_string_equal(json_string_value(json_object_get(ref, "name")), "rr1");
    assert_string_equal(json_string_value(json_object_get(ref, "uid")), "uid-111");
    assert_true(json_is_true(json_object_get(ref, "controller")));
    data = json_object_get(sec, "stringData");
    assert_int_equal(json_object_size(data), 3);
    assert_string_equal(json_string_value(json_object_get(data, "AWS_ACCESS_KEY_ID")), "ASIAJOB");
    assert_string_equal(json_string_value(json_object_get(data, "AWS_SECRET_ACCESS_KEY")),
                        "sekrit");
    assert_string_equal(json_string_value(json_object_get(data, "AWS_SESSION_TOKEN")), "tok");
    json_decref(sec);

    /* a long Job name: the Secret's name still fits a Kubernetes name */
    agentjob_aws_secret_name(name, sizeof(name),
                             "lb-a-very-long-restore-request-name-with-a-long-item-name-sync");
    assert_true(strlen(name) <= 63);
}

/* validate/compare/sync against a scripted S3 (validate and compare never
 * talk to Kubernetes; sync does, through the fixture's server). */
typedef struct s3fx {
    httpd srv;
    aws_client *aws;
    aws_credentials_provider *creds;
} s3fx;

static void s3fx_start(s3fx *s, const char *const *listings, size_t n)
{
    memset(s, 0, sizeof(*s));
    httpd_start(&s->srv);
    for (size_t i = 0; i < n; i++)
        httpd_script(&s->srv, 200, "Content-Type: application/xml\r\n", listings[i]);
    httpd_client(&s->aws, &s->creds, &s->srv, 1);
}

static void s3fx_stop(s3fx *s)
{
    aws_client_free(s->aws);
    aws_credentials_provider_free(s->creds);
    httpd_stop(&s->srv);
}

static void test_s3sync_validate_and_compare_say_job_mode_past_the_threshold(void **state)
{
    const char *lists[] = {THREE, ONE, THREE, ONE};
    fixture f;
    s3fx s;
    (void)state;

    s3sync_steps_configure(2);
    fx_start(&f, NULL, 0, "media/validate");
    s3fx_start(&s, lists, 4);
    f.ctx.aws = s.aws;
    assert_int_equal(s3sync_step_validate(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_DONE);
    assert_non_null(strstr(f.out.message, "s3://media-replica: more than 2 objects"));
    assert_non_null(strstr(f.out.message, "s3://media: 1 objects, 1 bytes"));
    assert_non_null(strstr(f.out.message, "Job mode"));
    assert_int_equal(s3sync_step_compare(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_DONE);
    assert_non_null(strstr(f.out.message, "Job mode"));
    assert_non_null(strstr(f.out.message, "computed by the cutover's Job"));
    assert_null(strstr(f.out.message, "to copy"));
    assert_int_equal(atomic_load(&f.e.srv.n_requests), 0);
    s3fx_stop(&s);
    fx_stop(&f);
    s3sync_steps_configure(S3SYNC_OPERATOR_MAX_OBJECTS_DEFAULT);
}

static void test_s3sync_validate_stays_in_the_operator_at_the_threshold(void **state)
{
    const char *lists[] = {TWO, ONE};
    fixture f;
    s3fx s;
    (void)state;

    s3sync_steps_configure(2);
    fx_start(&f, NULL, 0, "media/validate");
    s3fx_start(&s, lists, 2);
    f.ctx.aws = s.aws;
    assert_int_equal(s3sync_step_validate(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_DONE);
    assert_null(strstr(f.out.message, "Job mode"));
    assert_non_null(strstr(f.out.message, "s3://media-replica: 2 objects, 3 bytes"));
    s3fx_stop(&s);
    fx_stop(&f);
    s3sync_steps_configure(S3SYNC_OPERATOR_MAX_OBJECTS_DEFAULT);
}

static void test_s3sync_sync_creates_one_indexed_job_sized_from_the_counts(void **state)
{
    /* listings (stopped past 2 keys), then the counts: 3 and 1 -> 2 shards */
    const char *lists[] = {THREE, ONE, THREE, ONE};
    const char *pairs[] = {"404 Not Found", NOT_FOUND,     "404 Not Found",
                           NOT_FOUND,       "201 Created", "{}"};
    fixture f;
    s3fx s;
    (void)state;

    s3sync_steps_configure(2);
    fx_start(&f, pairs, 3, "media/sync");
    s3fx_start(&s, lists, 4);
    f.ctx.aws = s.aws;
    assert_int_equal(s3sync_step_sync(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_WAIT);
    assert_non_null(strstr(f.out.message, "Job lb-rr1-media-sync created"));
    assert_non_null(strstr(f.out.message, "2 shards"));
    assert_non_null(
        strstr(req(&f, 0), "GET /apis/batch/v1/namespaces/shop/jobs/lb-rr1-media-sync "));
    const char *post = req(&f, 2);
    assert_non_null(strstr(post, "POST /apis/batch/v1/namespaces/shop/jobs "));
    assert_non_null(strstr(post, "\"completionMode\":\"Indexed\""));
    assert_non_null(strstr(post, "\"completions\":2"));
    assert_non_null(strstr(post, "\"parallelism\":2"));
    assert_non_null(strstr(post, "\"name\":\"LIFEBOAT_SHARDS\",\"value\":\"2\""));
    assert_non_null(strstr(post, "\"uid\":\"uid-111\""));
    assert_int_equal(s.srv.nrequests, 4); /* nothing copied by the operator */
    s3fx_stop(&s);
    fx_stop(&f);
    s3sync_steps_configure(S3SYNC_OPERATOR_MAX_OBJECTS_DEFAULT);
}

#define ASSUMED                                                                                    \
    "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAJOBKEY</AccessKeyId>"     \
    "<SecretAccessKey>jobsecret</SecretAccessKey><SessionToken>jobtoken</SessionToken>"            \
    "<Expiration>2026-12-01T02:00:00Z</Expiration></Credentials></AssumeRoleResult>"               \
    "</AssumeRoleResponse>"
#define ROLE "arn:aws:iam::123456789012:role/team-r"

#define NO_JOB "404 Not Found", NOT_FOUND /* a Job GET: none yet */

static void stop_with_role(fixture *f, s3fx *s)
{
    s3fx_stop(s);
    fx_stop(f);
    s3sync_steps_configure(S3SYNC_OPERATOR_MAX_OBJECTS_DEFAULT);
}

/* With a scope role: sts:AssumeRole for the Job, then the Secret, then the Job. */
static void run_with_role(fixture *f, s3fx *s, const char *const *pairs, size_t npairs)
{
    const char *lists[] = {THREE, ONE, THREE, ONE, ASSUMED};
    s3sync_steps_configure(2);
    fx_start(f, pairs, npairs, "media/sync");
    s3fx_start(s, lists, 5);
    f->ctx.aws = s->aws;
    f->ctx.aws_base = s->aws;
    f->ctx.role_arn = ROLE;
    assert_int_equal(s3sync_step_sync(&f->out, &f->ctx), 0);
    /* the AssumeRole: session named after the namespace and the Job, the request's tags */
    const char *body = httpd_req_body(&s->srv, 4);
    assert_non_null(strstr(body, "Action=AssumeRole&"));
    assert_non_null(strstr(body, "RoleSessionName=lb-shop-lb-rr1-media-sync&"));
    assert_non_null(strstr(body, "DurationSeconds=3600"));
    assert_non_null(strstr(body, "lifeboat.dev%2Frequest"));
    assert_null(strstr(f->out.message, "jobsecret"));
    assert_null(strstr(f->out.message, "ASIAJOBKEY"));
}

static void test_s3sync_with_a_scope_role_the_job_gets_a_session_secret_first(void **state)
{
    const char *pairs[] = {NO_JOB, NO_JOB, "201 Created", "{}", NO_JOB, "201 Created", "{}"};
    fixture f;
    s3fx s;
    (void)state;

    run_with_role(&f, &s, pairs, 5);
    assert_int_equal(f.out.verdict, STEP_WAIT);
    assert_non_null(strstr(f.out.message, "Job lb-rr1-media-sync created"));
    const char *sec = req(&f, 2); /* the Secret before the Job */
    assert_non_null(strstr(sec, "POST /api/v1/namespaces/shop/secrets "));
    assert_non_null(strstr(sec, "\"name\":\"lb-rr1-media-sync-aws\""));
    assert_non_null(strstr(sec, "\"uid\":\"uid-111\""));
    assert_non_null(strstr(sec, "\"AWS_ACCESS_KEY_ID\":\"ASIAJOBKEY\""));
    assert_non_null(strstr(sec, "\"AWS_SECRET_ACCESS_KEY\":\"jobsecret\""));
    assert_non_null(strstr(sec, "\"AWS_SESSION_TOKEN\":\"jobtoken\""));
    const char *post = req(&f, 4);
    assert_non_null(strstr(post, "POST /apis/batch/v1/namespaces/shop/jobs "));
    assert_non_null(strstr(post, "\"secret\":{\"secretName\":\"lb-rr1-media-sync-aws\"}"));
    assert_null(strstr(post, "lifeboat-agent-aws"));
    stop_with_role(&f, &s);
}

#define OUR_SECRET                                                                                 \
    "{\"metadata\":{\"name\":\"lb-rr1-media-sync-aws\",\"resourceVersion\":\"7\"," OWNED "}}"

static void test_s3sync_our_leftover_session_secret_is_refreshed(void **state)
{
    const char *pairs[] = {NO_JOB,   NO_JOB, "409 Conflict", "{}",          "200 OK", OUR_SECRET,
                           "200 OK", "{}",   NO_JOB,         "201 Created", "{}"};
    fixture f;
    s3fx s;
    (void)state;

    run_with_role(&f, &s, pairs, 7);
    assert_int_equal(f.out.verdict, STEP_WAIT);
    const char *put = req(&f, 4);
    assert_non_null(strstr(put, "PATCH /api/v1/namespaces/shop/secrets/lb-rr1-media-sync-aws "));
    assert_non_null(strstr(put, "\"resourceVersion\":\"7\""));
    assert_non_null(strstr(put, "\"AWS_ACCESS_KEY_ID\":\"ASIAJOBKEY\""));
    assert_non_null(strstr(req(&f, 6), "POST /apis/batch/v1/namespaces/shop/jobs "));
    stop_with_role(&f, &s);
}

static void test_s3sync_someone_elses_secret_is_untouched_and_fails_naming_it(void **state)
{
    const char *pairs[] = {"404 Not Found", NOT_FOUND,
                           "404 Not Found", NOT_FOUND,
                           "409 Conflict",  "{}",
                           "200 OK",        "{\"metadata\":{\"name\":\"lb-rr1-media-sync-aws\"}}"};
    fixture f;
    s3fx s;
    (void)state;

    run_with_role(&f, &s, pairs, 4);
    assert_int_equal(f.out.verdict, STEP_FAILED);
    assert_string_equal(f.out.reason, "SecretNotOwned");
    assert_non_null(strstr(f.out.message, "Secret lb-rr1-media-sync-aws"));
    assert_int_equal(atomic_load(&f.e.srv.n_requests), 4); /* no PUT, no Job */
    stop_with_role(&f, &s);
}

/* ---- an existing Job: observed, nothing listed (ctx.aws is NULL) ---------------------- */

static void test_s3sync_sync_observes_the_job_with_progress_and_lists_nothing(void **state)
{
    const char *pairs[] = {"200 OK",  JOB_RUNNING, "404 Not Found",
                           NOT_FOUND, "200 OK",    JOB_RUNNING};
    fixture f;
    (void)state;
    fx_start(&f, pairs, 3, "media/sync");
    assert_int_equal(s3sync_step_sync(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_WAIT);
    assert_non_null(strstr(f.out.message, "1/3 indexes succeeded, 2 running"));
    assert_int_equal(atomic_load(&f.e.srv.n_requests), 3); /* three GETs, no POST */
    assert_non_null(                                       /* no later attempt */
                    strstr(req(&f, 1),
                           "GET /apis/batch/v1/namespaces/shop/jobs/lb-rr1-media-sync-2 "));
    assert_non_null(
        strstr(req(&f, 2), "GET /apis/batch/v1/namespaces/shop/jobs/lb-rr1-media-sync "));
    fx_stop(&f);
}

static void test_s3sync_sync_fails_with_the_failed_index_agent_error(void **state)
{
    const char *pairs[] = {"200 OK", JOB_FAILED, "404 Not Found", NOT_FOUND, "200 OK", JOB_FAILED,
                           "200 OK", PODS,       "200 OK",        FAILED_LOG};
    fixture f;
    (void)state;
    fx_start(&f, pairs, 5, "media/sync");
    assert_int_equal(s3sync_step_sync(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_FAILED); /* the agent's own error: no new attempt */
    assert_string_equal(f.out.reason, "SyncJobFailed");
    assert_non_null(strstr(f.out.message, "CopyObject img/7.jpg: AccessDenied"));
    assert_non_null(strstr(req(&f, 4), "/pods/lb-rr1-media-sync-1-abc/log"));
    assert_int_equal(atomic_load(&f.e.srv.n_requests), 5); /* no POST */
    fx_stop(&f);
}

/* the failed pod's log has no result line: the agent was killed */
#define KILLED_LOG "s3-sync: copying img/4.jpg\n"

static void test_s3sync_a_killed_shard_starts_the_next_attempt_of_the_same_shards(void **state)
{
    const char *pairs[] = {
        "200 OK", JOB_FAILED, "404 Not Found", NOT_FOUND,       "200 OK",  JOB_FAILED,    "200 OK",
        PODS,     "200 OK",   KILLED_LOG,      "404 Not Found", NOT_FOUND, "201 Created", "{}"};
    fixture f;
    (void)state;
    fx_start(&f, pairs, 7, "media/sync");
    assert_int_equal(s3sync_step_sync(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_WAIT);
    assert_non_null(strstr(f.out.message, "Job lb-rr1-media-sync-2 created"));
    assert_non_null(strstr(f.out.message, "3 shards"));
    assert_non_null(strstr(f.out.message, "a new attempt, as Job lb-rr1-media-sync failed "
                                          "without the agent's result"));
    assert_non_null(strstr(f.out.message, "copying img/4.jpg"));
    assert_non_null(
        strstr(req(&f, 5), "GET /apis/batch/v1/namespaces/shop/jobs/lb-rr1-media-sync-2 "));
    const char *post = req(&f, 6);
    assert_non_null(strstr(post, "POST /apis/batch/v1/namespaces/shop/jobs "));
    assert_non_null(strstr(post, "\"name\":\"lb-rr1-media-sync-2\""));
    assert_non_null(strstr(post, "\"completions\":3"));
    assert_non_null(strstr(post, "\"uid\":\"uid-111\""));
    fx_stop(&f);
}

static void test_s3sync_the_last_attempt_killed_fails_with_the_log_tail(void **state)
{
    const char *pairs[] = {"200 OK", JOB_FAILED, "200 OK", JOB_FAILED, "200 OK", JOB_FAILED,
                           "200 OK", JOB_FAILED, "200 OK", PODS,       "200 OK", KILLED_LOG};
    fixture f;
    (void)state;
    fx_start(&f, pairs, 6, "media/sync");
    assert_int_equal(s3sync_step_sync(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_FAILED);
    assert_string_equal(f.out.reason, "SyncJobFailed");
    assert_non_null(strstr(f.out.message, "Job lb-rr1-media-sync-3 failed without the agent's "
                                          "result"));
    assert_non_null(strstr(f.out.message, "copying img/4.jpg"));
    assert_non_null(strstr(f.out.message, "(attempt 3 of 3)"));
    assert_non_null(
        strstr(req(&f, 2), "GET /apis/batch/v1/namespaces/shop/jobs/lb-rr1-media-sync-3 "));
    assert_int_equal(atomic_load(&f.e.srv.n_requests), 6); /* no fourth Job */
    fx_stop(&f);
}

static void test_s3sync_verify_in_job_mode_checks_every_index_succeeded(void **state)
{
    const char *done[] = {"200 OK", JOB_COMPLETE, "404 Not Found", NOT_FOUND};
    const char *failed[] = {"200 OK", JOB_FAILED, "404 Not Found", NOT_FOUND};
    const char *retried[] = {"200 OK",     JOB_FAILED,      "200 OK",
                             JOB_COMPLETE, "404 Not Found", NOT_FOUND};
    fixture f;
    (void)state;
    fx_start(&f, retried, 3, "media/verify"); /* the newest attempt is the one verified */
    assert_int_equal(s3sync_step_verify(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_DONE);
    assert_non_null(strstr(f.out.message, "verified by Job lb-rr1-media-sync-2:"));
    fx_stop(&f);

    fx_start(&f, done, 2, "media/verify");
    assert_int_equal(s3sync_step_verify(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_DONE);
    assert_non_null(strstr(f.out.message, "3/3 shards succeeded"));
    assert_non_null(strstr(f.out.message, "no extraneous keys"));
    fx_stop(&f);

    fx_start(&f, failed, 2, "media/verify");
    assert_int_equal(s3sync_step_verify(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_FAILED);
    assert_string_equal(f.out.reason, "VerifyFailed");
    assert_non_null(strstr(f.out.message, "1/3 indexes succeeded"));
    fx_stop(&f);
}

static void test_s3sync_job_of_someone_else_is_never_adopted(void **state)
{
    const char *pairs[] = {"200 OK",        "{\"metadata\":{\"name\":\"lb-rr1-media-sync\"}}",
                           "404 Not Found", NOT_FOUND,
                           "200 OK",        "{\"metadata\":{\"name\":\"lb-rr1-media-sync\"}}"};
    fixture f;
    (void)state;
    fx_start(&f, pairs, 3, "media/sync");
    assert_int_equal(s3sync_step_sync(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_FAILED);
    assert_string_equal(f.out.reason, "JobNotOwned");
    fx_stop(&f);
}

/* ---- regions: each bucket in its own -------------------------------------------------- */

#define COPY_RESULT "<CopyObjectResult><ETag>&quot;e2&quot;</ETag></CopyObjectResult>"
#define REDIRECT                                                                                   \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>PermanentRedirect</Code><Message>"   \
    "The bucket you are attempting to access must be addressed using the specified endpoint. "     \
    "Please send all future requests to this endpoint.</Message><Bucket>media-replica</Bucket>"    \
    "<Endpoint>media-replica.s3.us-west-2.amazonaws.com</Endpoint></Error>"

/* The region of request i's SigV4 credential scope ("AKID/date/REGION/s3/..."). */
static void scope_region(const s3fx *s, int i, char *out, size_t size)
{
    char auth[512];
    const char *cred, *a, *b;
    httpd_req_header(&s->srv, i, "Authorization", auth, sizeof(auth));
    cred = strstr(auth, "Credential=");
    assert_non_null(cred);
    a = strchr(strchr(cred, '/') + 1, '/') + 1; /* past key and date */
    b = strchr(a, '/');
    assert_non_null(b);
    snprintf(out, size, "%.*s", (int)(b - a), a);
}

static void fx_start_spec(fixture *f, const char *const *pairs, size_t n, const char *spec,
                          char *step)
{
    fx_init(f, pairs, n, "{}", spec, "media", API_SOURCE_S3_SYNC, "s3Sync", step);
}

static void test_s3sync_lists_the_source_in_its_region_and_copies_in_the_targets(void **state)
{
    const char *spec = "{\"s3Sync\":{\"sourceBucket\":\"media-replica\",\"sourceRegion\":"
                       "\"us-west-2\",\"targetBucket\":\"media\",\"targetRegion\":"
                       "\"eu-central-1\",\"prefix\":\"img/\",\"concurrency\":1}}";
    const char *pairs[] = {"404 Not Found", NOT_FOUND};
    const char *lists[] = {THREE, ONE, COPY_RESULT, COPY_RESULT};
    char region[64], line[256], src[256];
    fixture f;
    s3fx s;
    (void)state;

    fx_start_spec(&f, pairs, 1, spec, "media/sync");
    s3fx_start(&s, lists, 4);
    f.ctx.aws = s.aws; /* the operator's client: us-east-1 */
    assert_int_equal(s3sync_step_sync(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_WAIT);
    assert_non_null(strstr(f.out.message, "2 copied by this call"));
    assert_int_equal(s.srv.nrequests, 4);
    httpd_req_line(&s.srv, 0, line, sizeof(line));
    assert_non_null(strstr(line, "GET /media-replica/?"));
    scope_region(&s, 0, region, sizeof(region));
    assert_string_equal(region, "us-west-2"); /* the source's listing: sourceRegion */
    httpd_req_line(&s.srv, 1, line, sizeof(line));
    assert_non_null(strstr(line, "GET /media/?"));
    scope_region(&s, 1, region, sizeof(region));
    assert_string_equal(region, "eu-central-1");
    for (int i = 2; i < 4; i++) { /* CopyObject: a write to the target, in its region */
        httpd_req_line(&s.srv, i, line, sizeof(line));
        assert_non_null(strstr(line, "PUT /media/img/"));
        httpd_req_header(&s.srv, i, "x-amz-copy-source", src, sizeof(src));
        assert_non_null(strstr(src, "media-replica/img/"));
        scope_region(&s, i, region, sizeof(region));
        assert_string_equal(region, "eu-central-1");
    }
    s3fx_stop(&s);
    fx_stop(&f);
}

static void test_s3sync_unset_regions_are_the_operators(void **state)
{
    const char *lists[] = {TWO, ONE};
    char region[64];
    fixture f;
    s3fx s;
    (void)state;

    fx_start(&f, NULL, 0, "media/validate");
    s3fx_start(&s, lists, 2);
    f.ctx.aws = s.aws;
    assert_int_equal(s3sync_step_validate(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_DONE);
    for (int i = 0; i < 2; i++) {
        scope_region(&s, i, region, sizeof(region));
        assert_string_equal(region, "us-east-1");
    }
    s3fx_stop(&s);
    fx_stop(&f);
}

static void test_s3sync_a_source_in_another_region_fails_naming_source_region(void **state)
{
    fixture f;
    s3fx s;
    (void)state;

    fx_start(&f, NULL, 0, "media/validate");
    memset(&s, 0, sizeof(s));
    httpd_start(&s.srv);
    httpd_script(&s.srv, 301, "Content-Type: application/xml\r\nx-amz-bucket-region: us-west-2\r\n",
                 REDIRECT);
    httpd_client(&s.aws, &s.creds, &s.srv, 3);
    f.ctx.aws = s.aws;
    assert_int_equal(s3sync_step_validate(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_FAILED);
    assert_string_equal(f.out.reason, "S3ListFailed");
    assert_non_null(strstr(f.out.message, "spec.items[0].s3Sync.sourceRegion (unset: listed in "
                                          "the operator's region us-east-1)"));
    assert_non_null(strstr(f.out.message, "PermanentRedirect"));
    assert_non_null(strstr(f.out.message, "the bucket is in region us-west-2"));
    assert_int_equal(s.srv.nrequests, 1); /* not retried; the target not even listed */
    s3fx_stop(&s);
    fx_stop(&f);
}

static void test_s3sync_a_target_in_another_region_fails_naming_target_region(void **state)
{
    const char *spec = "{\"s3Sync\":{\"sourceBucket\":\"media-replica\",\"targetBucket\":"
                       "\"media\",\"targetRegion\":\"eu-central-1\"}}";
    fixture f;
    s3fx s;
    (void)state;

    fx_start_spec(&f, NULL, 0, spec, "media/compare");
    memset(&s, 0, sizeof(s));
    httpd_start(&s.srv);
    httpd_script(&s.srv, 200, "Content-Type: application/xml\r\n", ONE);
    httpd_script(&s.srv, 301, "x-amz-bucket-region: eu-west-1\r\n", REDIRECT);
    httpd_client(&s.aws, &s.creds, &s.srv, 3);
    f.ctx.aws = s.aws;
    assert_int_equal(s3sync_step_compare(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_FAILED);
    assert_non_null(strstr(f.out.message, "spec.items[0].s3Sync.targetRegion (listed in "
                                          "eu-central-1)"));
    assert_non_null(strstr(f.out.message, "the bucket is in region eu-west-1"));
    assert_int_equal(s.srv.nrequests, 2);
    s3fx_stop(&s);
    fx_stop(&f);
}

/* Other refusals than another region's name the bucket field, never the region
 * field: setting a region would not help. */
static void refused_case(int status, const char *headers, const char *body, int target,
                         const char *field, const char *code)
{
    fixture f;
    s3fx s;

    fx_start(&f, NULL, 0, "media/validate");
    memset(&s, 0, sizeof(s));
    httpd_start(&s.srv);
    if (target)
        httpd_script(&s.srv, 200, "Content-Type: application/xml\r\n", ONE);
    httpd_script(&s.srv, status, headers, body);
    httpd_client(&s.aws, &s.creds, &s.srv, 3);
    f.ctx.aws = s.aws;
    assert_int_equal(s3sync_step_validate(&f.out, &f.ctx), 0);
    assert_int_equal(f.out.verdict, STEP_FAILED);
    assert_string_equal(f.out.reason, "S3ListFailed");
    assert_non_null(strstr(f.out.message, field));
    assert_non_null(strstr(f.out.message, "must be an existing bucket the operator may list "
                                          "(ListObjectsV2 in region us-east-1)"));
    assert_non_null(strstr(f.out.message, code));
    assert_null(strstr(f.out.message, "Region"));
    assert_int_equal(s.srv.nrequests, target ? 2 : 1); /* not retried */
    s3fx_stop(&s);
    fx_stop(&f);
}

#define S3ERR(code) "<Error><Code>" code "</Code><Message>refused</Message></Error>"

static void test_s3sync_other_refusals_name_the_bucket_field(void **state)
{
    (void)state;
    refused_case(404, "Content-Type: application/xml\r\n", S3ERR("NoSuchBucket"), 0,
                 "spec.items[0].s3Sync.sourceBucket: s3://media-replica", "NoSuchBucket");
    refused_case(403, "Content-Type: application/xml\r\n", S3ERR("AccessDenied"), 1,
                 "spec.items[0].s3Sync.targetBucket: s3://media", "AccessDenied");
    /* LB_EINVALID, as the wrong region is, but without x-amz-bucket-region */
    refused_case(400, "Content-Type: application/xml\r\n", S3ERR("InvalidBucketName"), 0,
                 "spec.items[0].s3Sync.sourceBucket: s3://media-replica", "InvalidBucketName");
}

static void test_s3sync_job_passes_both_regions_to_the_agent(void **state)
{
    const agentjob_spec a = JOB_SPEC;
    json_t *s3 = json_pack("{s:s, s:s, s:s, s:s}", "sourceBucket", "media-replica", "sourceRegion",
                           "us-west-2", "targetBucket", "media", "targetRegion", "eu-central-1");
    json_t *job, *c, *expect;
    (void)state;

    job = steps_s3sync__job(&a, s3, 2);
    c = json_array_get(
        json_object_get(
            json_object_get(json_object_get(json_object_get(job, "spec"), "template"), "spec"),
            "containers"),
        0);
    expect =
        json_pack("[s, s, s, s, s, s, s, s, s, s, s, s]", "lifeboat-agent", "s3-sync",
                  "--source-bucket", "media-replica", "--target-bucket", "media", "--source-region",
                  "us-west-2", "--target-region", "eu-central-1", "--concurrency", "16");
    assert_true(json_equal(json_object_get(c, "command"), expect));
    json_decref(expect);
    json_decref(job);
    json_decref(s3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s3sync_shards_follow_the_larger_side_between_2_and_8),
        cmocka_unit_test(test_s3sync_job_is_indexed_with_shards_env_and_the_agent_command),
        cmocka_unit_test(test_s3sync_validate_and_compare_say_job_mode_past_the_threshold),
        cmocka_unit_test(test_s3sync_validate_stays_in_the_operator_at_the_threshold),
        cmocka_unit_test(test_s3sync_sync_creates_one_indexed_job_sized_from_the_counts),
        cmocka_unit_test(
            test_s3sync_job_reads_the_scope_role_session_secret_else_lifeboat_agent_aws),
        cmocka_unit_test(test_s3sync_session_secret_is_owned_by_the_request_with_the_three_keys),
        cmocka_unit_test(test_s3sync_with_a_scope_role_the_job_gets_a_session_secret_first),
        cmocka_unit_test(test_s3sync_our_leftover_session_secret_is_refreshed),
        cmocka_unit_test(test_s3sync_someone_elses_secret_is_untouched_and_fails_naming_it),
        cmocka_unit_test(test_s3sync_sync_observes_the_job_with_progress_and_lists_nothing),
        cmocka_unit_test(test_s3sync_sync_fails_with_the_failed_index_agent_error),
        cmocka_unit_test(test_s3sync_a_killed_shard_starts_the_next_attempt_of_the_same_shards),
        cmocka_unit_test(test_s3sync_the_last_attempt_killed_fails_with_the_log_tail),
        cmocka_unit_test(test_s3sync_verify_in_job_mode_checks_every_index_succeeded),
        cmocka_unit_test(test_s3sync_job_of_someone_else_is_never_adopted),
        cmocka_unit_test(test_s3sync_lists_the_source_in_its_region_and_copies_in_the_targets),
        cmocka_unit_test(test_s3sync_unset_regions_are_the_operators),
        cmocka_unit_test(test_s3sync_a_source_in_another_region_fails_naming_source_region),
        cmocka_unit_test(test_s3sync_a_target_in_another_region_fails_naming_target_region),
        cmocka_unit_test(test_s3sync_other_refusals_name_the_bucket_field),
        cmocka_unit_test(test_s3sync_job_passes_both_regions_to_the_agent),
    };
    return cmocka_run_group_tests_name("steps_s3sync", tests, NULL, NULL);
}
