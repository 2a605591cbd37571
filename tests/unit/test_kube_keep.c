/* Unit tests for pkg/kube/keep: what the kept view holds and what it drops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "kube/keep.h"

/* A RestoreRequest as the API server sends it, with the bulk a cache must not hold. */
static const char *const FULL =
    "{\"apiVersion\":\"lifeboat.dev/v1alpha1\",\"kind\":\"RestoreRequest\","
    "\"metadata\":{\"name\":\"r1\",\"namespace\":\"shop\",\"uid\":\"u-1\","
    "\"resourceVersion\":\"42\",\"generation\":3,\"labels\":{\"team\":\"a\"},"
    "\"annotations\":{\"lifeboat.dev/approve\":\"alice\",\"note\":\"x\","
    "\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\"},"
    "\"managedFields\":[{\"manager\":\"kubectl\"}]},"
    "\"spec\":{\"items\":[{\"name\":\"db\"}]},"
    "\"status\":{\"phase\":\"Planned\",\"observedGeneration\":3,"
    "\"conditions\":[{\"type\":\"Valid\",\"status\":\"True\",\"observedGeneration\":3,"
    "\"message\":\"the spec passed validation\"},{\"type\":\"Ready\",\"message\":\"m\"}],"
    "\"plan\":[{\"step\":\"a\"},{\"step\":\"b\"}],\"steps\":[{\"name\":\"a\"}]}}";

static json_t *full(void)
{
    json_error_t err;
    json_t *o = json_loads(FULL, 0, &err);
    assert_non_null(o);
    return o;
}

static void check_view(const char *const *paths, const char *want_text)
{
    json_t *obj = full(), *copy = json_deep_copy(obj), *view, *want;
    json_error_t err;
    view = kube_keep_view(obj, paths);
    want = json_loads(want_text, 0, &err);
    assert_non_null(want);
    if (!json_equal(view, want)) {
        char *got = json_dumps(view, JSON_SORT_KEYS);
        print_error("kept view: %s\nwanted:    %s\n", got, want_text);
        free(got);
        fail();
    }
    assert_true(json_equal(obj, copy)); /* the object itself is not changed */
    json_decref(view);
    json_decref(want);
    json_decref(copy);
    json_decref(obj);
}

static void test_keep_identity_and_named_annotation(void **state)
{
    static const char *const paths[] = {
        "/metadata/name", "/metadata/namespace", "/metadata/uid", "/metadata/resourceVersion",
        "/metadata/generation", "/metadata/deletionTimestamp",
        "/metadata/annotations/lifeboat.dev~1approve", "/status/phase", NULL};
    (void)state;
    check_view(paths, "{\"metadata\":{\"name\":\"r1\",\"namespace\":\"shop\",\"uid\":\"u-1\","
                      "\"resourceVersion\":\"42\",\"generation\":3,"
                      "\"annotations\":{\"lifeboat.dev/approve\":\"alice\"}},"
                      "\"status\":{\"phase\":\"Planned\"}}");
}

static void test_keep_array_elements_and_presence(void **state)
{
    static const char *const paths[] = {"/status/conditions/*/type",
                                        "/status/conditions/*/observedGeneration",
                                        "?/status/steps", "?/spec", NULL};
    (void)state;
    /* positions kept; an element without a field is an empty object; "?" keeps an empty container */
    check_view(paths, "{\"status\":{\"conditions\":[{\"type\":\"Valid\",\"observedGeneration\":3},"
                      "{\"type\":\"Ready\"}],\"steps\":[]},\"spec\":{}}");
}

static void test_keep_whole_subtree_and_overlaps(void **state)
{
    static const char *const paths[] = {"/metadata/labels", "/metadata/labels/team",
                                        "/status/plan/*/step", "/status/plan", NULL};
    (void)state;
    check_view(paths, "{\"metadata\":{\"labels\":{\"team\":\"a\"}},"
                      "\"status\":{\"plan\":[{\"step\":\"a\"},{\"step\":\"b\"}]}}");
}

static void test_keep_drops_what_is_not_named(void **state)
{
    static const char *const none[] = {NULL};
    static const char *const misses[] = {"/metadata/deletionTimestamp", /* absent */
                                         "/metadata/name/deeper",       /* below a scalar */
                                         "/status/conditions/0/type",   /* index, not '*' */
                                         "metadata/name",               /* not a pointer */
                                         "/spec/items/*/missing", NULL};
    (void)state;
    check_view(none, "{}");
    check_view(misses, "{\"spec\":{\"items\":[{}]}}");
}

static void test_keep_segment_too_long_matches_nothing(void **state)
{
    char path[KUBE_KEEP_MAX_SEGMENT + 16];
    const char *paths[] = {path, "/metadata/name", NULL};
    json_t *obj = json_object(), *md = json_object(), *view;
    char key[KUBE_KEEP_MAX_SEGMENT + 1];
    (void)state;
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    json_object_set_new(md, key, json_string("v"));
    json_object_set_new(md, "name", json_string("n"));
    json_object_set_new(obj, "metadata", md);
    snprintf(path, sizeof(path), "/metadata/%s", key);
    view = kube_keep_view(obj, paths);
    assert_int_equal(json_object_size(json_object_get(view, "metadata")), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(view, "metadata"),
                                                          "name")),
                        "n");
    json_decref(view);
    json_decref(obj);
}

static void test_keep_needs_an_object(void **state)
{
    static const char *const paths[] = {"/a", NULL};
    json_t *arr = json_array();
    (void)state;
    assert_null(kube_keep_view(arr, paths));
    assert_null(kube_keep_view(NULL, paths));
    json_decref(arr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keep_identity_and_named_annotation),
        cmocka_unit_test(test_keep_array_elements_and_presence),
        cmocka_unit_test(test_keep_whole_subtree_and_overlaps),
        cmocka_unit_test(test_keep_drops_what_is_not_named),
        cmocka_unit_test(test_keep_segment_too_long_matches_nothing),
        cmocka_unit_test(test_keep_needs_an_object),
    };
    return cmocka_run_group_tests_name("kube_keep", tests, NULL, NULL);
}
