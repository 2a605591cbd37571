/* Unit tests for pkg/kube/keep: what the kept view holds and what it drops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "kube/keep.h"
#include "util/error.h"

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
    /* decoded from the text straight into what the view reads: the same view */
    {
        kube_keep_spec *spec;
        json_t *pruned;
        assert_int_equal(kube_keep_compile(&spec, "", paths, NULL), 0);
        assert_int_equal(kube_keep_decode(&pruned, spec, FULL, strlen(FULL)), 0);
        view = kube_keep_view(pruned, paths);
        assert_true(json_equal(view, want));
        json_decref(view);
        json_decref(pruned);
        kube_keep_spec_free(spec);
    }
    json_decref(want);
    json_decref(copy);
    json_decref(obj);
}

static void test_keep_identity_and_named_annotation(void **state)
{
    static const char *const paths[] = {"/metadata/name",
                                        "/metadata/namespace",
                                        "/metadata/uid",
                                        "/metadata/resourceVersion",
                                        "/metadata/generation",
                                        "/metadata/deletionTimestamp",
                                        "/metadata/annotations/lifeboat.dev~1approve",
                                        "/status/phase",
                                        NULL};
    (void)state;
    check_view(paths, "{\"metadata\":{\"name\":\"r1\",\"namespace\":\"shop\",\"uid\":\"u-1\","
                      "\"resourceVersion\":\"42\",\"generation\":3,"
                      "\"annotations\":{\"lifeboat.dev/approve\":\"alice\"}},"
                      "\"status\":{\"phase\":\"Planned\"}}");
}

static void test_keep_array_elements_and_presence(void **state)
{
    static const char *const paths[] = {"/status/conditions/*/type",
                                        "/status/conditions/*/observedGeneration", "?/status/steps",
                                        "?/spec", NULL};
    (void)state;
    /* positions kept; an element without a field is an empty object; "?" keeps an empty container
     */
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
                                         "/spec/items/*/missing",
                                         NULL};
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
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(view, "metadata"), "name")), "n");
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

/* ---- kube_keep_decode ---------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static const char *const KEYS[] = {"a", "b", "status", "*", "x/y", "t~n", ""};
#define NKEYS (sizeof(KEYS) / sizeof(KEYS[0]))

static json_t *random_value(int depth)
{
    unsigned kind = depth >= 4 ? rnd(5) : rnd(8);
    json_t *v;
    switch (kind) {
    case 0:
        return json_null();
    case 1:
        return json_boolean(rnd(2));
    case 2:
        return json_integer((json_int_t)rnd(1000) - 500);
    case 3:
        return json_real(rnd(1000) / 8.0);
    case 4:
        return json_string(KEYS[rnd(NKEYS)]);
    case 5:
    case 6:
        v = json_object();
        for (unsigned i = rnd(5); i > 0; i--)
            json_object_set_new(v, KEYS[rnd(NKEYS)], random_value(depth + 1));
        return v;
    default:
        v = json_array();
        for (unsigned i = rnd(4); i > 0; i--)
            json_array_append_new(v, random_value(depth + 1));
        return v;
    }
}

/* A keep.h path of 1-4 segments from KEYS (escaped), "?" in front sometimes. */
static void random_path(char *out, size_t size)
{
    size_t n = 0;
    if (rnd(4) == 0)
        out[n++] = '?';
    for (unsigned d = 1 + rnd(4); d > 0; d--) {
        const char *k = KEYS[rnd(NKEYS)];
        out[n++] = '/';
        for (; *k != '\0' && n + 3 < size; k++) {
            if (*k == '/' || *k == '~') {
                out[n++] = '~';
                out[n++] = *k == '/' ? '1' : '0';
            } else {
                out[n++] = *k;
            }
        }
    }
    out[n] = '\0';
}

/* For random objects and random path lists (overlaps, "*", presence, keys
 * that need escapes): the view of the decoded tree equals the view of the
 * whole object, and the decoded tree is never bigger than the object. */
static void test_decode_gives_the_view_of_the_whole_object(void **state)
{
    (void)state;
    for (int round = 0; round < 3000; round++) {
        char buf[8][64];
        const char *paths[9];
        unsigned np = 1 + rnd(8);
        json_t *obj = json_object(), *pruned, *want, *got;
        kube_keep_spec *spec;
        char *text;
        for (unsigned i = rnd(6); i > 0; i--)
            json_object_set_new(obj, KEYS[rnd(NKEYS)], random_value(1));
        for (unsigned i = 0; i < np; i++) {
            random_path(buf[i], sizeof(buf[i]));
            paths[i] = buf[i];
        }
        paths[np] = NULL;
        text = json_dumps(obj, JSON_COMPACT);
        assert_int_equal(kube_keep_compile(&spec, "", paths, NULL), 0);
        assert_int_equal(kube_keep_decode(&pruned, spec, text, strlen(text)), 0);
        want = kube_keep_view(obj, paths);
        got = kube_keep_view(pruned, paths);
        if (!json_equal(want, got)) {
            char *a = json_dumps(want, JSON_SORT_KEYS), *b = json_dumps(got, JSON_SORT_KEYS);
            print_error("object %s\npaths:", text);
            for (unsigned i = 0; i < np; i++)
                print_error(" %s", paths[i]);
            print_error("\nview of the object: %s\nview of the decode: %s\n", a, b);
            free(a);
            free(b);
            fail();
        }
        {
            char *t = json_dumps(pruned, JSON_COMPACT);
            assert_true(strlen(t) <= strlen(text));
            free(t);
        }
        json_decref(want);
        json_decref(got);
        json_decref(pruned);
        json_decref(obj);
        kube_keep_spec_free(spec);
        free(text);
    }
}

/* What is not named is not built: the decoded RestoreRequest holds no plan,
 * spec or managedFields; a prefix puts the paths under an envelope. */
static void test_decode_builds_only_what_is_named(void **state)
{
    static const char *const paths[] = {"/metadata/name", "?/status/steps",
                                        "/status/conditions/*/type", NULL};
    static const char *const extra[] = {"/type", NULL};
    kube_keep_spec *spec;
    json_t *ev;
    char *text;
    size_t cap = strlen(FULL) + 64;
    (void)state;
    text = malloc(cap);
    snprintf(text, cap, "{\"type\":\"MODIFIED\",\"object\":%s}", FULL);
    assert_int_equal(kube_keep_compile(&spec, "/object", paths, extra), 0);
    assert_int_equal(kube_keep_decode(&ev, spec, text, strlen(text)), 0);
    {
        json_t *want = json_loads("{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":"
                                  "\"r1\"},\"status\":{\"conditions\":[{\"type\":"
                                  "\"Valid\"},{\"type\":\"Ready\"}],\"steps\":[]}}}",
                                  0, NULL);
        char *got = json_dumps(ev, JSON_SORT_KEYS);
        if (!json_equal(ev, want))
            print_error("decoded: %s\n", got);
        assert_true(json_equal(ev, want));
        free(got);
        json_decref(want);
    }
    json_decref(ev);
    kube_keep_spec_free(spec);
    free(text);
}

/* What json_loadb rejects, kube_keep_decode rejects, with the reason. */
static void test_decode_rejects_what_jansson_rejects(void **state)
{
    static const char *const paths[] = {"/a", NULL};
    static const char *const bad[] = {
        "",
        "\"s\"",
        "{\"a\":1} x",
        "{\"a\":1",
        "{a:1}",
        "{\"a\":\"\\u0000\"}",
        "{\"\\u0000\":1}",
        "{\"b\":[\"\\u0000\"]}",
        "{\"a\":99999999999999999999}",
        "{\"a\":1e999}",
        "{\"a\":\"\xff\"}",
        "{\"a\":01}",
        "{\"a\":1,}",
        "{\"a\":nul}",
        "{\"a\":1\v}",
        "{\f\"a\":1}",
        "{\"b\":\"\xc0\x80\"}",
        "{\"\xed\xa0\x80\":1}",
        "{\"a\":\"\xf4\x90\x80\x80\"}",
        "{\"a\":1}\"",
        "{\"a\":1} \"x",
        "{\"a\":1}\n\"\\",
    };
    kube_keep_spec *spec;
    char deep[KUBE_KEEP_MAX_DEPTH * 2 + 32];
    size_t n = 0;
    json_t *out = (json_t *)1;
    (void)state;
    assert_int_equal(kube_keep_compile(&spec, "", paths, NULL), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = kube_keep_decode(&out, spec, bad[i], strlen(bad[i]));
        if (rc != LB_EINVALID)
            print_error("accepted: %s\n", bad[i]);
        assert_int_equal(rc, LB_EINVALID);
        assert_null(out);
        assert_non_null(strstr(lb_error_last(), "JSON: "));
        assert_null(json_loadb(bad[i], strlen(bad[i]), 0, NULL)); /* jansson agrees */
    }
    /* a NUL byte after a number */
    assert_int_equal(kube_keep_decode(&out, spec, "{\"a\":0\0}", 7), LB_EINVALID);
    assert_null(json_loadb("{\"a\":0\0}", 7, 0, NULL));
    /* an array is JSON, but not an object */
    assert_int_equal(kube_keep_decode(&out, spec, "[1]", 3), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "not an object"));
    /* deeper than the limit, in a part nothing is kept of */
    n += (size_t)snprintf(deep, sizeof(deep), "{\"b\":");
    for (int i = 0; i < KUBE_KEEP_MAX_DEPTH; i++)
        deep[n++] = '[';
    for (int i = 0; i < KUBE_KEEP_MAX_DEPTH; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    assert_int_equal(kube_keep_decode(&out, spec, deep, n), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "nested too deeply"));
    kube_keep_spec_free(spec);
}

static void test_compile_caps_the_paths(void **state)
{
    const char *paths[KUBE_KEEP_MAX_PATHS + 2];
    kube_keep_spec *spec = (kube_keep_spec *)1;
    (void)state;
    for (int i = 0; i <= KUBE_KEEP_MAX_PATHS; i++)
        paths[i] = "/a";
    paths[KUBE_KEEP_MAX_PATHS + 1] = NULL;
    assert_int_equal(kube_keep_compile(&spec, "", paths, NULL), LB_EINVALID);
    assert_null(spec);
    paths[KUBE_KEEP_MAX_PATHS] = NULL;
    assert_int_equal(kube_keep_compile(&spec, "", paths, NULL), 0);
    kube_keep_spec_free(spec);
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
        cmocka_unit_test(test_decode_gives_the_view_of_the_whole_object),
        cmocka_unit_test(test_decode_builds_only_what_is_named),
        cmocka_unit_test(test_decode_rejects_what_jansson_rejects),
        cmocka_unit_test(test_compile_caps_the_paths),
    };
    return cmocka_run_group_tests_name("kube_keep", tests, NULL, NULL);
}
