/* Unit tests for pkg/api/schema and pkg/api/cel: the embedded CRD schemas,
 * pattern translation and the CEL subset. Run from the repository root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "api/cel.h"
#include "api/schema.h"
#include "data/api/yaml2json.h"
#include "util/error.h"

static void test_api_schema_embedded_copies_match_crds(void **state)
{
    static const struct {
        api_kind kind;
        const char *file;
    } kinds[] = {
        {API_KIND_RESTORE_REQUEST, "crds/lifeboat.dev_restorerequests.yaml"},
        {API_KIND_VERIFICATION_RUN, "crds/lifeboat.dev_verificationruns.yaml"},
        {API_KIND_BACKUP_POLICY, "crds/lifeboat.dev_backuppolicies.yaml"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        json_t *crd = yaml_file_to_json(kinds[i].file);
        assert_non_null(crd);
        json_t *schema = json_object_get(
            json_object_get(
                json_array_get(json_object_get(json_object_get(crd, "spec"), "versions"), 0),
                "schema"),
            "openAPIV3Schema");
        assert_non_null(schema);
        if (!json_equal(schema, (json_t *)api_schema_get(kinds[i].kind)))
            fail_msg("%s changed: run python3 pkg/api/gen_schemas.py", kinds[i].file);
        json_decref(crd);
    }
}

static void walk_rules(const json_t *n, size_t *count)
{
    const char *key;
    json_t *v, *r;
    size_t i;

    if (json_is_object(n)) {
        json_array_foreach(json_object_get(n, "x-kubernetes-validations"), i, r)
        {
            const char *rule = json_string_value(json_object_get(r, "rule"));
            if (cel_check(rule) != 0)
                fail_msg("rule %s: %s", rule, lb_error_last());
            (*count)++;
        }
        json_object_foreach((json_t *)n, key, v)
        {
            const char *pattern = strcmp(key, "pattern") == 0 ? json_string_value(v) : NULL;
            if (pattern != NULL && api_pattern_match(pattern, "") < 0)
                fail_msg("pattern %s: %s", pattern, lb_error_last());
            walk_rules(v, count);
        }
    } else if (json_is_array(n)) {
        json_array_foreach(n, i, v)
        {
            walk_rules(v, count);
        }
    }
}

static void test_api_schema_every_cel_rule_and_pattern_compiles(void **state)
{
    size_t count = 0;
    (void)state;
    for (int k = API_KIND_RESTORE_REQUEST; k <= API_KIND_BACKUP_POLICY; k++)
        walk_rules(api_schema_get((api_kind)k), &count);
    assert_true(count >= 50); /* the CRDs carry dozens of rules */
}

static void test_api_pattern_translates_ecma_escapes(void **state)
{
    (void)state;
    assert_int_equal(api_pattern_match("^https?://[^\\s]+$", "http://a.b/health"), 1);
    assert_int_equal(api_pattern_match("^https?://[^\\s]+$", "http://a b"), 0);
    assert_int_equal(api_pattern_match("^/[^\\x00]*$", "/data"), 1);
    assert_int_equal(api_pattern_match("^/[^\\x00]*$", "data"), 0);
    assert_int_equal(api_pattern_match("^\\s*[0-9*,/-]+\\s+[0-9]+$", " 5  6"), 1);
    assert_int_equal(api_pattern_match("^[a-zA-Z](-?[a-zA-Z0-9])*$", "shop-orders-prod"), 1);
    assert_int_equal(api_pattern_match("^[a-zA-Z](-?[a-zA-Z0-9])*$", "shop--orders"), 0);
    assert_int_equal(api_pattern_match("^[a-zA-Z](-?[a-zA-Z0-9])*$", "shop-"), 0);
    assert_int_equal(api_pattern_match("^sg-[0-9a-f]{8,17}$", "sg-0123abcd"), 1);
    assert_int_equal(api_pattern_match("^sg-[0-9a-f]{8,17}$", "sg-0123abc"), 0);
    assert_int_equal(api_pattern_match("([unclosed", "x"), LB_EINVALID);
}

static int eval_json(const char *rule, const char *self)
{
    json_t *v = json_loads(self, JSON_DECODE_ANY, NULL);
    int rc;
    assert_non_null(v);
    rc = cel_eval_bool(rule, v);
    json_decref(v);
    return rc;
}

static void test_cel_evaluates_the_forms_the_crds_use(void **state)
{
    (void)state;
    assert_int_equal(eval_json("has(self.a) != (has(self.b) && self.b)", "{\"a\":1}"), 1);
    assert_int_equal(eval_json("has(self.a) != (has(self.b) && self.b)", "{\"a\":1,\"b\":true}"),
                     0);
    assert_int_equal(eval_json("has(self.a) != (has(self.b) && self.b)", "{\"a\":1,\"b\":false}"),
                     1);
    assert_int_equal(eval_json("[has(self.x), has(self.y), has(self.z)].filter(x, x).size() == 1",
                               "{\"x\":{},\"z\":1}"),
                     0);
    assert_int_equal(
        eval_json("[has(self.x), has(self.y), has(self.z)].filter(x, x).size() == 1", "{\"y\":0}"),
        1);
    assert_int_equal(eval_json("self.all(x, self.exists_one(y, y.name == x.name))",
                               "[{\"name\":\"a\"},{\"name\":\"b\"}]"),
                     1);
    assert_int_equal(eval_json("self.all(x, self.exists_one(y, y.name == x.name))",
                               "[{\"name\":\"a\"},{\"name\":\"a\"}]"),
                     0);
    assert_int_equal(
        eval_json("!has(self.d) || !(self.n in self.d)", "{\"n\":\"a\",\"d\":[\"b\",\"a\"]}"), 0);
    assert_int_equal(eval_json("self.all(i, !has(i.d) || i.d.all(d, self.exists(j, j.n == d)))",
                               "[{\"n\":\"a\",\"d\":[\"b\"]},{\"n\":\"b\"}]"),
                     1);
    assert_int_equal(eval_json("self.all(i, !has(i.d) || i.d.all(d, self.exists(j, j.n == d)))",
                               "[{\"n\":\"a\",\"d\":[\"c\"]}]"),
                     0);
    assert_int_equal(eval_json("!has(self.min) || !has(self.max) || self.min <= self.max",
                               "{\"min\":5,\"max\":2.5}"),
                     0);
    assert_int_equal(
        eval_json("self.mode != 'version' || (has(self.keys) && self.keys.size() == 1)",
                  "{\"mode\":\"version\",\"keys\":[\"k\"]}"),
        1);
    assert_int_equal(eval_json("has(self.a.b.c)", "{\"a\":{}}"), 0);
    assert_int_equal(
        eval_json("self.map(x, x.n).size() == 2 && size(self) >= 2", "[{\"n\":1},{\"n\":2}]"), 1);
}

static void test_cel_reports_errors_instead_of_guessing(void **state)
{
    (void)state;
    assert_int_equal(eval_json("self.missing == 1", "{}"), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "no such key"));
    assert_int_equal(eval_json("self.a + 1", "{\"a\":1}"), LB_EINVALID);
    assert_int_equal(eval_json("self.a", "{\"a\":1}"), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "expected a bool"));
    assert_int_equal(eval_json("self.a < 'x'", "{\"a\":1}"), LB_EINVALID);
    assert_int_equal(cel_check("has(self)"), LB_EINVALID);
    assert_int_equal(cel_check("self.foo(x, "), LB_EINVALID);
}

static void test_cel_bounds_cost_and_nesting(void **state)
{
    char deep[600];
    json_t *big = json_array();
    (void)state;
    memset(deep, '(', 300);
    memset(deep + 300, 0, 1);
    assert_int_equal(cel_check(deep), LB_EINVALID);
    for (int i = 0; i < 1000; i++)
        json_array_append_new(big, json_integer(i));
    /* 1000 x 1000 comparisons pass CEL_MAX_STEPS */
    assert_int_equal(cel_eval_bool("self.all(x, self.exists_one(y, y == x))", big), LB_EINVALID);
    assert_non_null(strstr(lb_error_last(), "cost"));
    json_decref(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_schema_embedded_copies_match_crds),
        cmocka_unit_test(test_api_schema_every_cel_rule_and_pattern_compiles),
        cmocka_unit_test(test_api_pattern_translates_ecma_escapes),
        cmocka_unit_test(test_cel_evaluates_the_forms_the_crds_use),
        cmocka_unit_test(test_cel_reports_errors_instead_of_guessing),
        cmocka_unit_test(test_cel_bounds_cost_and_nesting),
    };
    return cmocka_run_group_tests_name("api_schema", tests, NULL, NULL);
}
