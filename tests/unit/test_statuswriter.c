/* test_statuswriter.c - /status writes: skip when unchanged, PUT with the
 * resourceVersion, re-read and re-apply on 409, bounded attempts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kube/statuswriter.h"
#include "util/error.h"

#include "test_kube_fake_server.h"

#define OBJ(rv, status)                                                                            \
    "{\"apiVersion\":\"lifeboat.dev/v1alpha1\",\"kind\":\"RestoreRequest\",\"metadata\":{"         \
    "\"name\":\"r\",\"namespace\":\"ns\",\"resourceVersion\":\"" rv "\",\"generation\":1},"        \
    "\"spec\":{},\"status\":" status "}"
#define CONFLICT                                                                                   \
    "{\"kind\":\"Status\",\"code\":409,\"reason\":\"Conflict\",\"message\":\"the object has "      \
    "been modified\"}"

/* no request is expected (an array, as env_start copies from it) */
static const scripted NONE[1];

static const kube_ref REF = {.group = "lifeboat.dev",
                             .version = "v1alpha1",
                             .resource = "restorerequests",
                             .namespace = "ns",
                             .name = "r"};

/* Sets status.phase to the payload string (idempotent, derived from nothing else). */
static int set_phase(json_t *status, const json_t *obj, void *payload)
{
    (void)obj;
    json_object_set_new(status, "phase", json_string(payload));
    return 0;
}

static int refuse(json_t *status, const json_t *obj, void *payload)
{
    (void)status;
    (void)obj;
    (void)payload;
    return lb_error_setc(LB_EINVALID, "refused");
}

static json_t *parse(const char *s)
{
    json_error_t err;
    json_t *j = json_loads(s, 0, &err);
    assert_non_null(j);
    return j;
}

static void test_statuswriter_skips_unchanged_status(void **state)
{
    env e;
    json_t *obj = parse(OBJ("5", "{\"phase\":\"Planned\"}")), *out = NULL;
    int written = -1;
    (void)state;
    env_start(&e, NONE, 0);
    assert_int_equal(kube_status_update(&out, &written, e.c, &REF, obj, set_phase, "Planned", 0),
                     0);
    assert_int_equal(written, 0);
    assert_ptr_equal(out, obj);
    assert_int_equal(atomic_load(&e.srv.n_requests), 0);
    json_decref(out);
    json_decref(obj);
    env_stop(&e);
}

static void test_statuswriter_puts_the_status_subresource(void **state)
{
    char *ok = resp("200 OK", "", OBJ("6", "{\"phase\":\"Planned\"}"));
    scripted sc[] = {{.raw = ok}};
    env e;
    json_t *obj = parse(OBJ("5", "{}")), *out = NULL;
    int written = -1;
    (void)state;
    env_start(&e, sc, 1);
    assert_int_equal(kube_status_update(&out, &written, e.c, &REF, obj, set_phase, "Planned", 0),
                     0);
    assert_int_equal(written, 1);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(out, "metadata"), "resourceVersion")),
        "6");
    assert_int_equal(atomic_load(&e.srv.n_requests), 1);
    assert_non_null(strstr(e.srv.requests[0],
                           "PUT /apis/lifeboat.dev/v1alpha1/namespaces/ns/restorerequests/r/status "
                           "HTTP"));
    assert_non_null(strstr(e.srv.requests[0], "\"resourceVersion\":\"5\""));
    assert_non_null(strstr(e.srv.requests[0], "\"phase\":\"Planned\""));
    json_decref(out);
    json_decref(obj);
    env_stop(&e);
    free(ok);
}

static void test_statuswriter_rereads_and_reapplies_on_conflict(void **state)
{
    char *c409 = resp("409 Conflict", "", CONFLICT);
    char *fresh = resp("200 OK", "", OBJ("7", "{\"message\":\"someone else's\"}"));
    char *ok = resp("200 OK", "", OBJ("8", "{\"phase\":\"Planned\"}"));
    scripted sc[] = {{.raw = c409}, {.raw = fresh}, {.raw = ok}};
    env e;
    json_t *obj = parse(OBJ("5", "{}"));
    int written = -1;
    (void)state;
    env_start(&e, sc, 3);
    assert_int_equal(kube_status_update(NULL, &written, e.c, &REF, obj, set_phase, "Planned", 0),
                     0);
    assert_int_equal(written, 1);
    assert_int_equal(atomic_load(&e.srv.n_requests), 3);
    assert_non_null(strstr(e.srv.requests[1],
                           "GET /apis/lifeboat.dev/v1alpha1/namespaces/ns/restorerequests/r HTTP"));
    /* the retry carries the fresh resourceVersion and keeps the fresh status' other fields */
    assert_non_null(strstr(e.srv.requests[2], "/restorerequests/r/status HTTP"));
    assert_non_null(strstr(e.srv.requests[2], "\"resourceVersion\":\"7\""));
    assert_non_null(strstr(e.srv.requests[2], "\"message\":\"someone else's\""));
    assert_non_null(strstr(e.srv.requests[2], "\"phase\":\"Planned\""));
    json_decref(obj);
    env_stop(&e);
    free(c409);
    free(fresh);
    free(ok);
}

static void test_statuswriter_skips_when_the_fresh_object_already_has_it(void **state)
{
    char *c409 = resp("409 Conflict", "", CONFLICT);
    char *fresh = resp("200 OK", "", OBJ("7", "{\"phase\":\"Planned\"}"));
    scripted sc[] = {{.raw = c409}, {.raw = fresh}};
    env e;
    json_t *obj = parse(OBJ("5", "{}"));
    int written = -1;
    (void)state;
    env_start(&e, sc, 2);
    assert_int_equal(kube_status_update(NULL, &written, e.c, &REF, obj, set_phase, "Planned", 0),
                     0);
    assert_int_equal(written, 0);
    assert_int_equal(atomic_load(&e.srv.n_requests), 2);
    json_decref(obj);
    env_stop(&e);
    free(c409);
    free(fresh);
}

static void test_statuswriter_gives_up_after_max_attempts(void **state)
{
    char *c409 = resp("409 Conflict", "", CONFLICT);
    char *fresh = resp("200 OK", "", OBJ("7", "{}"));
    scripted sc[] = {{.raw = c409}, {.raw = fresh}, {.raw = c409}};
    env e;
    json_t *obj = parse(OBJ("5", "{}"));
    (void)state;
    env_start(&e, sc, 3);
    assert_int_equal(kube_status_update(NULL, NULL, e.c, &REF, obj, set_phase, "Planned", 2),
                     LB_ECONFLICT);
    assert_non_null(strstr(lb_error_last(), "after 2 attempts"));
    assert_int_equal(atomic_load(&e.srv.n_requests), 3);
    json_decref(obj);
    env_stop(&e);
    free(c409);
    free(fresh);
}

static void test_statuswriter_reports_a_deleted_object(void **state)
{
    char *r404 =
        resp("404 Not Found", "",
             "{\"kind\":\"Status\",\"code\":404,\"reason\":\"NotFound\",\"message\":\"gone\"}");
    scripted sc[] = {{.raw = r404}};
    env e;
    json_t *obj = parse(OBJ("5", "{}"));
    (void)state;
    env_start(&e, sc, 1);
    assert_int_equal(kube_status_update(NULL, NULL, e.c, &REF, obj, set_phase, "Planned", 0),
                     LB_ENOTFOUND);
    json_decref(obj);
    env_stop(&e);
    free(r404);
}

static void test_statuswriter_passes_the_function_error_up(void **state)
{
    env e;
    json_t *obj = parse(OBJ("5", "{}"));
    (void)state;
    env_start(&e, NONE, 0);
    assert_int_equal(kube_status_update(NULL, NULL, e.c, &REF, obj, refuse, NULL, 0), LB_EINVALID);
    assert_string_equal(lb_error_last(), "refused");
    assert_int_equal(atomic_load(&e.srv.n_requests), 0);
    json_decref(obj);
    env_stop(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statuswriter_skips_unchanged_status),
        cmocka_unit_test(test_statuswriter_puts_the_status_subresource),
        cmocka_unit_test(test_statuswriter_rereads_and_reapplies_on_conflict),
        cmocka_unit_test(test_statuswriter_skips_when_the_fresh_object_already_has_it),
        cmocka_unit_test(test_statuswriter_gives_up_after_max_attempts),
        cmocka_unit_test(test_statuswriter_reports_a_deleted_object),
        cmocka_unit_test(test_statuswriter_passes_the_function_error_up),
    };
    return cmocka_run_group_tests_name("statuswriter", tests, NULL, NULL);
}
