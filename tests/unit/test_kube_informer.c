/* Unit tests for pkg/kube/informer against a scripted server: paged LIST,
 * WATCH from the list's version, re-watch from the last version, relist on 410
 * with the difference reported to the handlers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kube/informer.h"
#include "util/error.h"

#include "test_kube_fake_server.h"

#define LOG_MAX 32

typedef struct handler_log {
    pthread_mutex_t mu;
    char lines[LOG_MAX][64];
    size_t n;
} handler_log;

static void log_line(handler_log *l, const char *what, json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    pthread_mutex_lock(&l->mu);
    assert_true(l->n < LOG_MAX);
    snprintf(l->lines[l->n++], sizeof(l->lines[0]), "%s %s %s", what,
             json_string_value(json_object_get(md, "name")),
             json_string_value(json_object_get(md, "resourceVersion")));
    pthread_mutex_unlock(&l->mu);
}

static void on_add(json_t *obj, void *payload)
{
    log_line(payload, "add", obj);
}

static void on_update(json_t *old_obj, json_t *new_obj, void *payload)
{
    (void)old_obj;
    log_line(payload, "update", new_obj);
}

static void on_unchanged(json_t *obj, void *payload)
{
    log_line(payload, "same", obj);
}

static void on_delete(json_t *obj, void *payload)
{
    log_line(payload, "delete", obj);
}

static size_t log_len(handler_log *l)
{
    size_t n;
    pthread_mutex_lock(&l->mu);
    n = l->n;
    pthread_mutex_unlock(&l->mu);
    return n;
}

static int cmp_line(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* The log lines [from, to) as one sorted, ';'-joined string. */
static char *phase(handler_log *l, size_t from, size_t to)
{
    char sorted[LOG_MAX][64];
    char *out = lb_calloc(1, LOG_MAX * 65);
    memcpy(sorted, l->lines + from, (to - from) * sizeof(sorted[0]));
    qsort(sorted, to - from, sizeof(sorted[0]), cmp_line);
    for (size_t i = 0; i < to - from; i++) {
        if (i > 0)
            strcat(out, ";");
        strcat(out, sorted[i]);
    }
    return out;
}

#define OBJ(name, rv)                                                                              \
    "{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"shop\",\"resourceVersion\":\"" rv "\"}}"
#define CHUNKED                                                                                    \
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"          \
    "Connection: close\r\n\r\n"

static void wait_for(handler_log *l, size_t n)
{
    for (int i = 0; i < 500 && log_len(l) < n; i++)
        sleep_ms(10);
    assert_true(log_len(l) >= n);
}

/* Pages, watch events split anywhere, a 410 and a relist, bookmarks: with
 * `keep` NULL (whole objects) and with a kept view (decoded by kube_keep_decode). */
static void lists_watches_and_relists_on_gone(const char *const *keep)
{
    char *page1 =
        resp("200 OK", "",
             "{\"metadata\":{\"continue\":\"p2\",\"resourceVersion\":\"10\"},\"items\":[" OBJ(
                 "a", "5") "," OBJ("b", "6") "]}");
    char *page2 = resp("200 OK", "",
                       "{\"metadata\":{\"resourceVersion\":\"10\"},\"items\":[" OBJ("c", "7") "]}");
    char *relist = resp("200 OK", "",
                        "{\"metadata\":{\"resourceVersion\":\"20\"},\"items\":[" OBJ(
                            "a", "11") "," OBJ("c", "15") "," OBJ("e", "19") "]}");
    scripted sc[] = {
        {.raw = page1},
        {.raw = page2},
        {.raw = CHUNKED,
         .chunks = {"{\"type\":\"MODIFIED\",\"object\":" OBJ("a", "11") "}\n{\"type\":\"ADD",
                    "ED\",\"object\":" OBJ("d", "12") "}\n",
                    "{\"type\":\"DELETED\",\"object\":" OBJ("b", "13") "}\n"}},
        {.raw = CHUNKED,
         .chunks = {"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
                    "\"reason\":\"Expired\",\"message\":\"too old\"}}\n"}},
        {.raw = relist},
        {.raw = CHUNKED,
         .chunks = {"{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":"
                    "{\"resourceVersion\":\"21\"}}}\n"},
         .hold = 1},
    };
    handler_log lg = {.n = 0};
    kube_informer_handlers h = {.on_add = on_add,
                                .on_update = on_update,
                                .on_unchanged = on_unchanged,
                                .on_delete = on_delete,
                                .payload = &lg};
    kube_informer_options io = {
        .page_size = 2, .watch_timeout_seconds = 60, .backoff_ms = 10, .keep = keep};
    kube_ref coll = {"", "v1", "configmaps", "shop", NULL, NULL};
    kube_informer *inf = NULL;
    unsigned long lists, watches;
    double list_seconds, list_ended;
    json_t *keys, *c;
    char *p;
    env e;

    pthread_mutex_init(&lg.mu, NULL);
    env_start(&e, sc, 6);
    assert_int_equal(kube_informer_new(&inf, e.c, &coll, &io, &h), 0);
    assert_false(kube_informer_has_synced(inf));
    kube_informer_last_list(inf, &list_seconds, &list_ended);
    assert_true(list_seconds == 0 && list_ended == 0); /* none yet */
    assert_int_equal(kube_informer_start(inf), 0);
    assert_int_equal(kube_informer_wait_synced(inf, 5000), 0);
    kube_informer_last_list(inf, &list_seconds, &list_ended);
    assert_true(list_seconds > 0 && list_seconds < 5); /* both pages and the diff */
    assert_true(list_ended > (double)time(NULL) - 60 && list_ended < (double)time(NULL) + 1);

    wait_for(&lg, 3);
    p = phase(&lg, 0, 3);
    assert_string_equal(p, "add a 5;add b 6;add c 7");
    free(p);
    wait_for(&lg, 6);
    /* watch events in order; with a kept view that differs only in its
     * resourceVersion, the update is reported as unchanged */
    assert_string_equal(lg.lines[3], keep != NULL ? "same a 11" : "update a 11");
    assert_string_equal(lg.lines[4], "add d 12");
    assert_string_equal(lg.lines[5], "delete b 13");
    /* after the 410: relist; d vanished, c changed, e appeared, a unchanged */
    wait_for(&lg, 9);
    p = phase(&lg, 6, 9);
    assert_string_equal(p, keep != NULL ? "add e 19;delete d 12;same c 15"
                                        : "add e 19;delete d 12;update c 15");
    free(p);
    sleep_ms(50);
    assert_int_equal(log_len(&lg), 9); /* and nothing else: a was not reported again */
    for (int i = 0; i < 500 && atomic_load(&e.srv.n_requests) < 6; i++)
        sleep_ms(10);
    assert_int_equal(atomic_load(&e.srv.n_requests), 6);

    keys = kube_informer_keys(inf);
    assert_int_equal(json_array_size(keys), 3);
    assert_string_equal(json_string_value(json_array_get(keys, 0)), "shop/a");
    assert_string_equal(json_string_value(json_array_get(keys, 2)), "shop/e");
    json_decref(keys);
    c = kube_informer_get(inf, "shop", "c");
    assert_non_null(c);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(c, "metadata"), "resourceVersion")),
        "15");
    json_decref(c);
    assert_null(kube_informer_get(inf, "shop", "b"));
    kube_informer_counts(inf, &lists, &watches);
    assert_int_equal(lists, 2);
    assert_int_equal(watches, 3);

    kube_informer_stop(inf);
    assert_non_null(strstr(e.srv.requests[0], "?limit=2 HTTP/1.1"));
    assert_non_null(strstr(e.srv.requests[1], "?limit=2&continue=p2 HTTP/1.1"));
    assert_non_null(strstr(e.srv.requests[2], "watch=1&resourceVersion=10&"));
    assert_non_null(strstr(e.srv.requests[3], "watch=1&resourceVersion=13&")); /* last seen */
    assert_non_null(strstr(e.srv.requests[4], "?limit=2 HTTP/1.1"));
    assert_non_null(strstr(e.srv.requests[5], "watch=1&resourceVersion=20&"));
    kube_informer_free(inf);
    env_stop(&e);
    pthread_mutex_destroy(&lg.mu);
    free(page1);
    free(page2);
    free(relist);
}

static void test_informer_lists_watches_and_relists_on_gone(void **state)
{
    (void)state;
    lists_watches_and_relists_on_gone(NULL);
}

static void test_informer_with_a_kept_view_lists_watches_and_relists_on_gone(void **state)
{
    static const char *const keep[] = {"/metadata/name", "/metadata/namespace",
                                       "/metadata/resourceVersion", NULL};
    (void)state;
    lists_watches_and_relists_on_gone(keep);
}

static void test_informer_backs_off_and_relists_after_errors(void **state)
{
    char *err = resp("500 Internal Server Error", "", "{\"kind\":\"Status\",\"code\":500}");
    char *list = resp("200 OK", "",
                      "{\"metadata\":{\"resourceVersion\":\"3\"},\"items\":[" OBJ("x", "3") "]}");
    scripted sc[] = {
        {.raw = list},
        {.raw = err}, /* the watch fails: backoff, relist */
        {.raw = list},
        {.raw = CHUNKED, .chunks = {"\n"}, .hold = 1},
    };
    handler_log lg = {.n = 0};
    kube_informer_handlers h = {.on_add = on_add,
                                .on_update = on_update,
                                .on_unchanged = on_unchanged,
                                .on_delete = on_delete,
                                .payload = &lg};
    kube_client_options no_retry = {.max_retries = -1};
    kube_informer_options io = {.backoff_ms = 20, .max_backoff_ms = 50};
    kube_ref coll = {"", "v1", "configmaps", "shop", NULL, NULL};
    kube_informer *inf = NULL;
    kube_client *c = NULL;
    unsigned long lists = 0, watches = 0;
    env e;
    (void)state;

    pthread_mutex_init(&lg.mu, NULL);
    env_start(&e, sc, 4);
    assert_int_equal(kube_client_new(&c, e.cfg, &no_retry), 0);
    assert_int_equal(kube_informer_new(&inf, c, &coll, &io, &h), 0);
    assert_int_equal(kube_informer_start(inf), 0);
    for (int i = 0; i < 500 && atomic_load(&e.srv.n_requests) < 4; i++)
        sleep_ms(10);
    assert_int_equal(atomic_load(&e.srv.n_requests), 4);
    for (int i = 0; i < 500 && watches < 2; i++) {
        sleep_ms(10);
        kube_informer_counts(inf, &lists, &watches);
    }
    assert_int_equal(lists, 2);
    assert_int_equal(watches, 2);
    assert_int_equal(log_len(&lg), 1); /* the relist found x unchanged: no second add */
    assert_string_equal(lg.lines[0], "add x 3");
    kube_informer_free(inf);
    kube_client_free(c);
    env_stop(&e);
    pthread_mutex_destroy(&lg.mu);
    free(err);
    free(list);
}

/* managedFields and kubectl's last-applied copy never reach the cache or the
 * handlers, from a LIST or from a watch event; other annotations stay. */
#define BULKY(name, rv, extra)                                                                     \
    "{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"shop\",\"resourceVersion\":\"" rv        \
    "\",\"managedFields\":[{\"manager\":\"kubectl\",\"fieldsV1\":{\"f:spec\":{}}}],"               \
    "\"annotations\":{\"kubectl.kubernetes.io/"                                                    \
    "last-applied-configuration\":\"{\\\"spec\\\":{}}\"" extra "}},\"spec\":{\"x\":1}}"

static void test_informer_drops_bookkeeping_fields(void **state)
{
    char *list = resp("200 OK", "",
                      "{\"metadata\":{\"resourceVersion\":\"3\"},\"items\":[" BULKY(
                          "a", "3", ",\"lifeboat.dev/approve\":\"alice\"") "]}");
    scripted sc[] = {
        {.raw = list},
        {.raw = CHUNKED,
         .chunks = {"{\"type\":\"ADDED\",\"object\":" BULKY("b", "4", "") "}\n"},
         .hold = 1},
    };
    handler_log lg = {.n = 0};
    kube_informer_handlers h = {.on_add = on_add,
                                .on_update = on_update,
                                .on_unchanged = on_unchanged,
                                .on_delete = on_delete,
                                .payload = &lg};
    kube_informer_options io = {.backoff_ms = 10};
    kube_ref coll = {"", "v1", "configmaps", "shop", NULL, NULL};
    kube_informer *inf = NULL;
    json_t *a, *b, *md;
    env e;
    (void)state;

    pthread_mutex_init(&lg.mu, NULL);
    env_start(&e, sc, 2);
    assert_int_equal(kube_informer_new(&inf, e.c, &coll, &io, &h), 0);
    assert_int_equal(kube_informer_start(inf), 0);
    wait_for(&lg, 2);
    a = kube_informer_get(inf, "shop", "a");
    b = kube_informer_get(inf, "shop", "b");
    assert_non_null(a);
    assert_non_null(b);
    md = json_object_get(a, "metadata");
    assert_null(json_object_get(md, "managedFields"));
    assert_null(json_object_get(json_object_get(md, "annotations"), KUBE_LAST_APPLIED_ANNOTATION));
    assert_string_equal(json_string_value(json_object_get(json_object_get(md, "annotations"),
                                                          "lifeboat.dev/approve")),
                        "alice");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(a, "spec"), "x")), 1);
    md = json_object_get(b, "metadata");
    assert_null(json_object_get(md, "managedFields"));
    assert_null(json_object_get(md, "annotations")); /* it held only the last-applied copy */
    json_decref(a);
    json_decref(b);
    kube_informer_free(inf);
    env_stop(&e);
    pthread_mutex_destroy(&lg.mu);
    free(list);
}

/* With `keep`, the cache and the handlers hold only the kept view, for listed
 * objects and watched ones alike; the delete handler gets the view too. */
static void test_informer_caches_the_kept_view(void **state)
{
    static const char *const keep[] = {"/metadata/name", "/metadata/namespace",
                                       "/metadata/resourceVersion",
                                       "/metadata/annotations/lifeboat.dev~1approve", NULL};
    char *list = resp("200 OK", "",
                      "{\"metadata\":{\"resourceVersion\":\"3\"},\"items\":[" BULKY(
                          "a", "3", ",\"lifeboat.dev/approve\":\"alice\"") "]}");
    scripted sc[] = {
        {.raw = list},
        {.raw = CHUNKED,
         .chunks = {"{\"type\":\"ADDED\",\"object\":" BULKY(
             "b", "4",
             "") "}\n"
                 /* a kept annotation appears: an update */
                 "{\"type\":\"MODIFIED\",\"object\":" BULKY(
                     "b", "6",
                     ",\"lifeboat.dev/approve\":\"bob\"") "}\n"
                                                          /* only what the view does not hold
                                                             changes: unchanged */
                                                          "{\"type\":\"MODIFIED\","
                                                          "\"object\":" BULKY(
                                                              "b", "7",
                                                              ",\"lifeboat.dev/"
                                                              "approve\":\"bob\",\"team\":"
                                                              "\"x\"") "}\n"
                                                                       "{\"type\":\"DELETED\","
                                                                       "\"object\":" BULKY(
                                                                           "a", "5", "") "}\n"},
         .hold = 1},
    };
    handler_log lg = {.n = 0};
    kube_informer_handlers h = {.on_add = on_add,
                                .on_update = on_update,
                                .on_unchanged = on_unchanged,
                                .on_delete = on_delete,
                                .payload = &lg};
    kube_informer_options io = {.backoff_ms = 10, .keep = keep};
    kube_ref coll = {"", "v1", "configmaps", "shop", NULL, NULL};
    kube_informer *inf = NULL;
    json_t *b, *want;
    env e;
    (void)state;

    pthread_mutex_init(&lg.mu, NULL);
    env_start(&e, sc, 2);
    assert_int_equal(kube_informer_new(&inf, e.c, &coll, &io, &h), 0);
    assert_int_equal(kube_informer_start(inf), 0);
    wait_for(&lg, 5);
    assert_string_equal(lg.lines[0], "add a 3");
    assert_string_equal(lg.lines[1], "add b 4");
    assert_string_equal(lg.lines[2], "update b 6");
    assert_string_equal(lg.lines[3], "same b 7");
    assert_string_equal(lg.lines[4], "delete a 5");
    assert_null(kube_informer_get(inf, "shop", "a"));
    b = kube_informer_get(inf, "shop", "b");
    want = json_pack("{s:{s:s,s:s,s:s,s:{s:s}}}", "metadata", "name", "b", "namespace", "shop",
                     "resourceVersion", "7", "annotations", "lifeboat.dev/approve", "bob");
    assert_true(json_equal(b, want)); /* spec, managedFields, other annotations: dropped */
    json_decref(want);
    json_decref(b);
    kube_informer_free(inf);
    env_stop(&e);
    pthread_mutex_destroy(&lg.mu);
    free(list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_informer_lists_watches_and_relists_on_gone),
        cmocka_unit_test(test_informer_with_a_kept_view_lists_watches_and_relists_on_gone),
        cmocka_unit_test(test_informer_backs_off_and_relists_after_errors),
        cmocka_unit_test(test_informer_drops_bookkeeping_fields),
        cmocka_unit_test(test_informer_caches_the_kept_view),
    };
    return cmocka_run_group_tests_name("kube_informer", tests, NULL, NULL);
}
