/* Unit tests for pkg/agent/manifest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/manifest.h"
#include "util/error.h"

#define SHA "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

static void test_manifest_reads_the_runbook_format(void **state)
{
    (void)state;
    manifest m;
    const char *doc =
        "{\"sha256\": \"9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08\"}";
    assert_int_equal(manifest_parse(&m, doc, strlen(doc), "prod/pg/x.manifest.json"), 0);
    assert_string_equal(m.sha256, SHA); /* lower-cased */
    assert_int_equal(m.size_bytes, -1);
    assert_null(manifest_tables(&m));
    manifest_dispose(&m);
}

static void test_manifest_round_trips_lifeboat_format(void **state)
{
    (void)state;
    json_t *tables = json_pack("{s:i, s:i}", "public.orders", 1200, "public.customers", 0);
    manifest_info info = {.sha256 = SHA,
                          .size_bytes = 4096,
                          .created_at = "2026-02-18T01:00:00Z",
                          .format = "custom",
                          .compression = "pg_dump",
                          .encryption = "aes-256-gcm",
                          .object = "pg/shop_20260218T010000Z.dump",
                          .source_host = "db.example",
                          .source_database = "shop",
                          .server_version = "15.18",
                          .tables = tables};
    char *text = NULL;
    assert_int_equal(manifest_build(&text, &info), 0);
    manifest m;
    assert_int_equal(manifest_parse(&m, text, strlen(text), "x"), 0);
    assert_string_equal(m.sha256, SHA);
    assert_int_equal(m.size_bytes, 4096);
    assert_int_equal(json_integer_value(json_object_get(manifest_tables(&m), "public.orders")),
                     1200);
    assert_string_equal(json_string_value(json_object_get(m.root, "encryption")), "aes-256-gcm");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(m.root, "source"), "database")), "shop");
    manifest_dispose(&m);
    free(text);
    json_decref(tables);
}

static void test_manifest_rejects_bad_documents_naming_the_field(void **state)
{
    (void)state;
    const struct {
        const char *doc;
        const char *field;
    } cases[] = {
        {"not json", "not a JSON object"},
        {"[1]", "not a JSON object"},
        {"{}", "sha256"},
        {"{\"sha256\": 5}", "sha256"},
        {"{\"sha256\": \"abc\"}", "64 hex"},
        {"{\"sha256\": \"" SHA "\", \"sizeBytes\": -1}", "sizeBytes"},
        {"{\"sha256\": \"" SHA "\", \"sizeBytes\": \"5\"}", "sizeBytes"},
        {"{\"sha256\": \"" SHA "\", \"tables\": []}", "tables"},
        {"{\"sha256\": \"" SHA "\", \"tables\": {\"t\": -3}}", "tables.t"},
        {"{\"sha256\": \"" SHA "\", \"sha256\": \"" SHA "\"}", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        manifest m;
        assert_int_equal(manifest_parse(&m, cases[i].doc, strlen(cases[i].doc), "k.json"),
                         LB_EINVALID);
        assert_non_null(strstr(lb_error_last(), cases[i].field));
        assert_non_null(strstr(lb_error_last(), "k.json"));
        manifest_dispose(&m);
    }
    manifest m;
    assert_int_equal(manifest_parse(&m, "{}", MANIFEST_MAX_BYTES + 1, "big"), LB_ETOOBIG);
    manifest_dispose(&m);
}

static void test_manifest_key_strips_known_suffixes(void **state)
{
    (void)state;
    const struct {
        const char *key, *want;
    } cases[] = {
        {"prod/pg/2025-10-01.sql.gz", "prod/pg/2025-10-01.manifest.json"},
        {"pg/shop_20260218T010000Z.dump", "pg/shop_20260218T010000Z.manifest.json"},
        {"backups/latest.sql.gz.enc", "backups/latest.manifest.json"},
        {"files/uploads/latest.tar.gz.enc", "files/uploads/latest.manifest.json"},
        {"x/data.bin", "x/data.bin.manifest.json"},
        {"x/.dump", "x/.dump.manifest.json"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *k = manifest_key_for(cases[i].key);
        assert_string_equal(k, cases[i].want);
        assert_true(manifest_is_manifest_key(k));
        free(k);
    }
    assert_false(manifest_is_manifest_key("a.dump"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest_reads_the_runbook_format),
        cmocka_unit_test(test_manifest_round_trips_lifeboat_format),
        cmocka_unit_test(test_manifest_rejects_bad_documents_naming_the_field),
        cmocka_unit_test(test_manifest_key_strips_known_suffixes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
