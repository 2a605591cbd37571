/* test_access.c - the groups a requester claims (lifeboat.dev/requested-groups)
 * and the LocalSubjectAccessReviews made for the requester with them
 * (controller/restore/access.h), against a scripted API server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/common.h"
#include "controller/restore/access.h"
#include "util/error.h"

#include "test_kube_fake_server.h"

#define FIELD "metadata.annotations[lifeboat.dev/requested-groups]: "

static void test_access_groups_parse_table(void **state)
{
    static const struct {
        const char *value;
        int rc;
        size_t n;
        const char *names[3];
        const char *error; /* the rule named, for a refusal */
    } cases[] = {
        {NULL, 0, 0, {NULL}, NULL},
        {"", 0, 0, {NULL}, NULL},
        {"developers", 0, 1, {"developers"}, NULL},
        {"developers,oidc:team-a,system:authenticated",
         0,
         3,
         {"developers", "oidc:team-a", "system:authenticated"},
         NULL},
        /* taken as written: the admission policy compares bytes, so does the review */
        {" developers", 0, 1, {" developers"}, NULL},
        {"a,,b", LB_EINVALID, 0, {NULL}, FIELD "group 2 is empty"},
        {",a", LB_EINVALID, 0, {NULL}, FIELD "group 1 is empty"},
        {"a,", LB_EINVALID, 0, {NULL}, FIELD "group 2 is empty"},
        {",", LB_EINVALID, 0, {NULL}, FIELD "group 1 is empty"},
        {"a,b\nc", LB_EINVALID, 0, {NULL}, FIELD "group 2 has a control character"},
        {"a\x7f", LB_EINVALID, 0, {NULL}, FIELD "group 1 has a control character"},
        {"ok\r", LB_EINVALID, 0, {NULL}, FIELD "group 1 has a control character"},
    };
    access_groups *g = lb_calloc(1, sizeof(*g));
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc;
        g->n = 7; /* emptied whatever the result */
        rc = access_groups_parse(g, cases[i].value);
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s): rc %d, want %d (%s)", i,
                     cases[i].value ? cases[i].value : "NULL", rc, cases[i].rc, lb_error_last());
        assert_int_equal(g->n, cases[i].n);
        for (size_t k = 0; k < cases[i].n; k++)
            assert_string_equal(g->name[k], cases[i].names[k]);
        if (cases[i].error != NULL && strstr(lb_error_last(), cases[i].error) == NULL)
            fail_msg("case %zu: error '%s' does not name '%s'", i, lb_error_last(), cases[i].error);
    }
    free(g);
}

/* ACCESS_MAX_GROUPS names pass, one more does not; a name of
 * ACCESS_MAX_GROUP_BYTES passes, one byte more does not; an annotation of
 * megabytes is refused on its length. */
static void test_access_groups_parse_caps(void **state)
{
    access_groups *g = lb_calloc(1, sizeof(*g));
    size_t cap = (ACCESS_MAX_GROUPS + 1) * 4 + 1;
    char *text = lb_calloc(1, cap);
    char *big;
    size_t len = 0;
    (void)state;

    for (int i = 0; i < ACCESS_MAX_GROUPS; i++)
        len += (size_t)snprintf(text + len, cap - len, "%sg%02d", i ? "," : "", i);
    assert_int_equal(access_groups_parse(g, text), 0);
    assert_int_equal(g->n, ACCESS_MAX_GROUPS);
    assert_string_equal(g->name[ACCESS_MAX_GROUPS - 1], "g31");
    snprintf(text + len, cap - len, ",g32");
    assert_int_equal(access_groups_parse(g, text), LB_EINVALID);
    assert_int_equal(g->n, 0);
    assert_non_null(strstr(lb_error_last(), FIELD "at most 32 groups"));

    big = lb_calloc(1, 4u << 20);
    memset(big, 'a', ACCESS_MAX_GROUP_BYTES);
    assert_int_equal(access_groups_parse(g, big), 0);
    assert_int_equal(strlen(g->name[0]), ACCESS_MAX_GROUP_BYTES);
    big[ACCESS_MAX_GROUP_BYTES] = 'a';
    assert_int_equal(access_groups_parse(g, big), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), FIELD "group 1 is longer than 256 bytes"));
    memset(big, 'a', (4u << 20) - 1);
    assert_int_equal(access_groups_parse(g, big), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), FIELD "longer than 32 groups of at most 256 bytes"));
    free(big);
    free(text);
    free(g);
}

/* The JSON body of a scripted request. */
static json_t *body_of(const char *request)
{
    const char *b = strstr(request, "\r\n\r\n");
    json_t *j;
    assert_non_null(b);
    j = json_loads(b + 4, 0, NULL);
    assert_non_null(j);
    return j;
}

static const access_need NEED_GET = {.field = "spec.items[0].secretPatches[0].secretName",
                                     .verb = "get",
                                     .group = "",
                                     .resource = "secrets",
                                     .name = "svc-db"};
static const access_need NEED_JOBS = {.field = "spec.items[0].migrations",
                                      .verb = "create",
                                      .group = "batch",
                                      .resource = "jobs",
                                      .name = ""};

#define SAR_ALLOWED "{\"kind\":\"LocalSubjectAccessReview\",\"status\":{\"allowed\":true}}"
#define SAR_DENIED  "{\"kind\":\"LocalSubjectAccessReview\",\"status\":{\"allowed\":false}}"

/* Every review names the claimed groups in spec.groups, in order, beside the
 * user; an allowed review adds no refusal. */
static void test_access_review_names_the_claimed_groups(void **state)
{
    char *allowed = resp("201 Created", "", SAR_ALLOWED);
    scripted sc[] = {{.raw = allowed}, {.raw = allowed}};
    access_need needs[2] = {NEED_GET, NEED_JOBS};
    access_groups *g = lb_calloc(1, sizeof(*g));
    api_errors errs = {0};
    json_t *body, *spec, *want_groups;
    env e;
    (void)state;

    assert_int_equal(access_groups_parse(g, "developers,oidc:team-a"), 0);
    env_start(&e, sc, 2);
    assert_int_equal(access_review(&errs, e.c, "team-a", "bob", g, needs, 2), 0);
    assert_int_equal(atomic_load(&e.srv.n_requests), 2);
    assert_non_null(strstr(e.srv.requests[0], "POST /apis/authorization.k8s.io/v1/namespaces/"
                                              "team-a/localsubjectaccessreviews HTTP"));
    want_groups = json_pack("[s, s]", "developers", "oidc:team-a");
    for (size_t i = 0; i < 2; i++) {
        body = body_of(e.srv.requests[i]);
        spec = json_object_get(body, "spec");
        assert_string_equal(json_string_value(json_object_get(body, "kind")),
                            "LocalSubjectAccessReview");
        assert_string_equal(json_string_value(json_object_get(spec, "user")), "bob");
        assert_true(json_equal(json_object_get(spec, "groups"), want_groups));
        assert_string_equal(api_get_str(json_object_get(spec, "resourceAttributes"), "verb"),
                            needs[i].verb);
        json_decref(body);
    }
    body = body_of(e.srv.requests[0]);
    assert_string_equal(
        api_get_str(json_object_get(json_object_get(body, "spec"), "resourceAttributes"), "name"),
        "svc-db");
    json_decref(body);
    json_decref(want_groups);
    api_errors_dispose(&errs);
    env_stop(&e);
    free(allowed);
    free(g);
}

/* Without claimed groups the review has no spec.groups at all (the user
 * alone, as before the annotation existed), and a refusal names the user. */
static void test_access_review_without_groups_names_the_user_only(void **state)
{
    char *denied = resp("201 Created", "", SAR_DENIED);
    scripted sc[] = {{.raw = denied}, {.raw = denied}};
    access_groups *g = lb_calloc(1, sizeof(*g));
    api_errors errs = {0};
    json_t *body;
    char *msg;
    env e;
    (void)state;

    env_start(&e, sc, 2);
    assert_int_equal(access_review(&errs, e.c, "team-a", "carol", g, &NEED_GET, 1), LB_EINVALID);
    assert_int_equal(access_review(&errs, e.c, "team-a", "carol", NULL, &NEED_GET, 1), LB_EINVALID);
    for (size_t i = 0; i < 2; i++) {
        body = body_of(e.srv.requests[i]);
        assert_null(json_object_get(json_object_get(body, "spec"), "groups"));
        assert_string_equal(api_get_str(json_object_get(body, "spec"), "user"), "carol");
        json_decref(body);
    }
    msg = api_errors_join(&errs);
    assert_non_null(strstr(msg, "spec.items[0].secretPatches[0].secretName: user carol may not "
                                "get secrets/svc-db in namespace team-a"));
    assert_null(strstr(msg, "groups"));
    free(msg);
    api_errors_dispose(&errs);
    env_stop(&e);
    free(denied);
    free(g);
}

/* A refusal with claimed groups names them: the reader sees what was asked. */
static void test_access_review_refusal_names_the_groups(void **state)
{
    char *denied = resp("201 Created", "", SAR_DENIED);
    scripted sc[] = {{.raw = denied}};
    access_groups *g = lb_calloc(1, sizeof(*g));
    api_errors errs = {0};
    char *msg;
    env e;
    (void)state;

    assert_int_equal(access_groups_parse(g, "developers,ops"), 0);
    env_start(&e, sc, 1);
    assert_int_equal(access_review(&errs, e.c, "team-a", "bob", g, &NEED_JOBS, 1), LB_EINVALID);
    msg = api_errors_join(&errs);
    assert_non_null(strstr(msg, "spec.items[0].migrations: user bob (groups developers, ops) may "
                                "not create batch/jobs in namespace team-a"));
    free(msg);
    api_errors_dispose(&errs);
    env_stop(&e);
    free(denied);
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_access_groups_parse_table),
        cmocka_unit_test(test_access_groups_parse_caps),
        cmocka_unit_test(test_access_review_names_the_claimed_groups),
        cmocka_unit_test(test_access_review_without_groups_names_the_user_only),
        cmocka_unit_test(test_access_review_refusal_names_the_groups),
    };
    return cmocka_run_group_tests_name("access", tests, NULL, NULL);
}
