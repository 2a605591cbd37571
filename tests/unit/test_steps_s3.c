/* Unit tests for restore/steps_s3.c's planner (steps_s3__plan): from a version
 * listing (versions and delete markers, in S3's or moto's order) to the exact
 * changes of each mode, and nothing left to do once they are made. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "controller/restore/step.h"

typedef struct s3obj_version {
    char *key, *version_id, *etag;
    int64_t lm_ns;
    int marker, latest;
    size_t seq;
} s3obj_version;

typedef enum s3obj_action {
    S3OBJ_COPY = 0,
    S3OBJ_REMOVE_MARKER,
    S3OBJ_DELETE,
} s3obj_action;

typedef struct s3obj_change {
    s3obj_action action;
    const char *key, *version_id;
} s3obj_change;

typedef struct s3obj_plan {
    s3obj_change *changes;
    size_t n;
    size_t unchanged, kept_newer, not_deleted, missing;
    const char *first_missing;
} s3obj_plan;

int steps_s3__plan(s3obj_plan *out, s3obj_version *v, size_t n, const char *mode,
                   const char *const *keys, size_t nkeys, int64_t t_ns, const char *version_id,
                   int remove_newer);
void steps_s3__plan_free(s3obj_plan *p);

#define S(x) ((int64_t)(x)*1000000000LL)

/* V(key, vid, etag, second, marker, latest) */
#define V(k, id, e, sec, m, l)                                                                     \
    {                                                                                              \
        (char *)(k), (char *)(id), (char *)(e), S(sec), m, l, 0                                    \
    }

static const s3obj_change *find(const s3obj_plan *p, const char *key)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->changes[i].key, key) == 0)
            return &p->changes[i];
    return NULL;
}

static void test_undelete_removes_the_marker_on_top_and_reports_the_rest(void **state)
{
    /* moto's order: versions first, then delete markers */
    s3obj_version v[] = {
        V("a", "a1", "\"ea\"", 10, 0, 0),
        V("b", "b1", "\"eb\"", 10, 0, 1),
        V("a", "am", NULL, 20, 1, 1),
    };
    const char *keys[] = {"a", "b", "c"};
    s3obj_plan p;
    (void)state;
    steps_s3__plan(&p, v, 3, "undelete", keys, 3, 0, NULL, 0);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.changes[0].action, S3OBJ_REMOVE_MARKER);
    assert_string_equal(p.changes[0].key, "a");
    assert_string_equal(p.changes[0].version_id, "am");
    assert_int_equal(p.not_deleted, 1);
    assert_int_equal(p.missing, 1);
    assert_string_equal(p.first_missing, "c");
    steps_s3__plan_free(&p);
}

static void test_point_in_time_per_key(void **state)
{
    /* T = 100. same: untouched since; over: overwritten after T; del: deleted after T;
     * new: created after T; gone: deleted before T; back: deleted before T, recreated */
    s3obj_version v[] = {
        V("same", "s1", "\"s1\"", 50, 0, 1),  V("over", "o2", "\"o2\"", 150, 0, 1),
        V("over", "o1", "\"o1\"", 50, 0, 0),  V("del", "d1", "\"d1\"", 50, 0, 0),
        V("new", "n1", "\"n1\"", 150, 0, 1),  V("gone", "g1", "\"g1\"", 40, 0, 0),
        V("back", "k2", "\"k2\"", 160, 0, 1), V("back", "k1", "\"k1\"", 40, 0, 0),
        V("del", "dm", NULL, 150, 1, 1),      V("gone", "gm", NULL, 60, 1, 1),
        V("back", "km", NULL, 60, 1, 0),
    };
    s3obj_plan p;
    const s3obj_change *c;
    (void)state;
    steps_s3__plan(&p, v, sizeof(v) / sizeof(v[0]), "pointInTime", NULL, 0, S(100), NULL, 0);
    assert_int_equal(p.n, 2);
    c = find(&p, "over");
    assert_non_null(c);
    assert_int_equal(c->action, S3OBJ_COPY);
    assert_string_equal(c->version_id, "o1");
    c = find(&p, "del");
    assert_non_null(c);
    assert_int_equal(c->action, S3OBJ_COPY);
    assert_string_equal(c->version_id, "d1");
    assert_int_equal(p.kept_newer, 2); /* new, back */
    assert_int_equal(p.unchanged, 2);  /* same, gone */
    steps_s3__plan_free(&p);

    steps_s3__plan(&p, v, sizeof(v) / sizeof(v[0]), "pointInTime", NULL, 0, S(100), NULL, 1);
    assert_int_equal(p.n, 4);
    assert_int_equal(find(&p, "new")->action, S3OBJ_DELETE);
    assert_int_equal(find(&p, "back")->action, S3OBJ_DELETE);
    assert_null(find(&p, "gone"));
    steps_s3__plan_free(&p);
}

static void test_point_in_time_after_the_copies_has_nothing_left(void **state)
{
    /* the state after the cutover: over and del got copies of o1/d1 (same ETags) */
    s3obj_version v[] = {
        V("over", "o3", "\"o1\"", 200, 0, 1), V("over", "o2", "\"o2\"", 150, 0, 0),
        V("over", "o1", "\"o1\"", 50, 0, 0),  V("del", "d2", "\"d1\"", 200, 0, 1),
        V("del", "d1", "\"d1\"", 50, 0, 0),   V("del", "dm", NULL, 150, 1, 0),
    };
    s3obj_plan p;
    (void)state;
    steps_s3__plan(&p, v, sizeof(v) / sizeof(v[0]), "pointInTime", NULL, 0, S(100), NULL, 0);
    assert_int_equal(p.n, 0);
    assert_int_equal(p.unchanged, 2);
    steps_s3__plan_free(&p);
}

static void test_version_mode_copies_once_and_reports_a_missing_version(void **state)
{
    s3obj_version v[] = {
        V("k", "v2", "\"e2\"", 20, 0, 1),
        V("k", "v1", "\"e1\"", 10, 0, 0),
    };
    const char *keys[] = {"k"};
    s3obj_plan p;
    (void)state;
    steps_s3__plan(&p, v, 2, "version", keys, 1, 0, "v1", 0);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.changes[0].action, S3OBJ_COPY);
    assert_string_equal(p.changes[0].version_id, "v1");
    steps_s3__plan_free(&p);
    steps_s3__plan(&p, v, 2, "version", keys, 1, 0, "v2", 0);
    assert_int_equal(p.n, 0);
    assert_int_equal(p.unchanged, 1);
    steps_s3__plan_free(&p);
    steps_s3__plan(&p, v, 2, "version", keys, 1, 0, "nope", 0);
    assert_int_equal(p.n, 0);
    assert_int_equal(p.missing, 1);
    steps_s3__plan_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_undelete_removes_the_marker_on_top_and_reports_the_rest),
        cmocka_unit_test(test_point_in_time_per_key),
        cmocka_unit_test(test_point_in_time_after_the_copies_has_nothing_left),
        cmocka_unit_test(test_version_mode_copies_once_and_reports_a_missing_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
