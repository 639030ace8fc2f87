/* The brook command's pieces without a cluster (framework/src/cli/): the schemas of a
 * declaration as brookc sees them, and Avro values to and from JSON as the generated codecs
 * write and read them, on the codegen tests' every-type schemas. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "alltypes.brook.h"
#include "cli/cli.h"

static brook__cli_t cli;
static brook__cli_catalog_t *catalog;

static int setup(void **state) {
    static char decl[] = BROOK_ALLTYPES_DECL;
    static char *paths[] = {decl};
    cli.decl_paths = malloc(sizeof(paths));
    memcpy(cli.decl_paths, paths, sizeof(paths));
    cli.decl_count = 1;
    cli.bootstrap_opt = "localhost:1"; /* never contacted */
    if (brook__cli_prepare(&cli))
        return -1;
    catalog = brook__cli_catalog(&cli);
    return catalog ? 0 : -1;
}

static int teardown(void **state) {
    brook__cli_cleanup(&cli);
    return 0;
}

/* Every named type brookc generated is in the catalog by its fingerprint: the standalone
 * schemas (inlined across files, recursive, nested namespaces) are brookc's. */
static void test_fingerprints(void **state) {
    size_t n = 0;
    for (const brook_type_t *const *t = alltypes_types; *t; t++, n++) {
        const brook__cli_schema_t *s = brook__cli_catalog_fingerprint(catalog, (*t)->fingerprint);
        if (!s)
            fail_msg("%s: fingerprint %016llx not in the catalog", (*t)->name,
                     (unsigned long long)(*t)->fingerprint);
        assert_string_equal(s->name, (*t)->name);
        assert_string_equal(s->canonical, (*t)->schema_json);
        assert_ptr_equal(brook__cli_catalog_name(catalog, (*t)->name), s);
    }
    assert_int_equal(n, brook__cli_catalog_size(catalog));
}

/* JSON both ways for a value given as JSON: the generated from_json parses it, the generated
 * encoder writes the bytes; the command's to_json of those bytes is what the generated to_json
 * writes, and its from_json of that JSON gives the same bytes. */
static void check_value(const brook_type_t *t, const char *json) {
    void *v = calloc(1, t->size);
    brook_error_t err = {0};
    t->init(v);
    if (t->from_json(v, json, strlen(json), &err))
        fail_msg("%s from_json: %s", t->name, err.message);
    brook_buf_t bin, want, got, back;
    brook_buf_init(&bin);
    brook_buf_init(&want);
    brook_buf_init(&got);
    brook_buf_init(&back);
    assert_int_equal(t->encode(v, &bin), 0);
    assert_int_equal(t->to_json(v, &want), 0);
    const brook__cli_schema_t *s = brook__cli_catalog_fingerprint(catalog, t->fingerprint);
    assert_non_null(s);
    if (brook__cli_avro_to_json(s, bin.data, bin.len, &got, &err))
        fail_msg("%s to_json: %s", t->name, err.message);
    /* the same writers: the same text */
    if (got.len != want.len || memcmp(got.data, want.data, got.len))
        fail_msg("%s:\n cli:  %.*s\n want: %.*s", t->name, (int)got.len, got.data, (int)want.len,
                 want.data);
    brook_json_t *doc = brook_avro_json_parse((const char *)want.data, want.len, &err);
    assert_non_null(doc);
    if (brook__cli_avro_from_json(s, brook_avro_json_root(doc), "value", &back, &err))
        fail_msg("%s from_json: %s", t->name, err.message);
    assert_int_equal(back.len, bin.len);
    assert_memory_equal(back.data, bin.data, bin.len);
    /* trailing bytes and every truncation are refused; corruptions never crash nor leak */
    brook_buf_reset(&got);
    brook_buf_append(&bin, "x", 1);
    assert_int_not_equal(brook__cli_avro_to_json(s, bin.data, bin.len, &got, &err), 0);
    for (size_t n = 0; n + 1 < bin.len; n++)
        assert_int_not_equal(brook__cli_avro_to_json(s, bin.data, n, &got, &err), 0);
    uint32_t seed = 7;
    for (int k = 0; k < 300 && bin.len > 1; k++) {
        seed = seed * 1103515245 + 12345;
        size_t pos = (seed >> 8) % (bin.len - 1);
        uint8_t old = bin.data[pos];
        bin.data[pos] ^= (uint8_t)(1 + (seed >> 3) % 255);
        brook_buf_reset(&got);
        brook__cli_avro_to_json(s, bin.data, bin.len - 1, &got, &err);
        bin.data[pos] = old;
    }
    brook_avro_json_free(doc);
    brook_buf_free(&bin);
    brook_buf_free(&want);
    brook_buf_free(&got);
    brook_buf_free(&back);
    t->clear(v);
    free(v);
}

static const char all_json[] =
    "{\"n\":null,\"b\":false,\"i\":-2147483648,\"l\":9223372036854775807,\"f\":\"NaN\","
    "\"d\":-1.5e300,\"by\":\"\\u0000\\u00ff\\u0041\",\"s\":\"h\\u00e9 \\\"q\\\" \\n\\t\","
    "\"e\":\"USD\",\"fx\":\"0123456789abcde\\u0000\",\"arr\":[1,-2,3],\"arr_s\":[],"
    "\"m\":{\"a\":1,\"b\":-1},\"opt\":{\"string\":\"x\"},"
    "\"opt_rec\":{\"shop.Money\":{\"currency\":\"GBP\",\"units\":5,\"nanos\":1}},"
    "\"u\":{\"array\":[1.5,\"Infinity\"]},\"u2\":{\"long\":7},"
    "\"nested\":{\"currency\":\"EUR\",\"units\":-1,\"nanos\":0},"
    "\"nested_def\":{\"currency\":\"GBP\",\"units\":7,\"nanos\":0},"
    "\"arr_rec\":[{\"currency\":\"EUR\",\"units\":1,\"nanos\":2}],"
    "\"map_arr\":{\"k\":[null,{\"int\":4}]},\"int\":3,\"default\":\"\",\"has_opt\":true,"
    "\"rev\":{\"int\":3},\"day\":19000,\"tm\":1000,\"tu\":1000000,\"ts\":1700000000000,"
    "\"tsu\":1700000000000000,\"lts\":1,\"ltsu\":2,"
    "\"id\":\"123e4567-e89b-12d3-a456-426614174000\",\"amount\":\"\\u0001\\u0000\","
    "\"amount_fx\":\"\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0001\\u0000\","
    "\"node\":{\"value\":1,\"children\":[{\"value\":2,\"children\":[],\"next\":null}],"
    "\"next\":{\"test.Node\":{\"value\":3,\"children\":[],\"next\":null}}},\"empty\":{},"
    "\"outer\":{\"x.y.Outer\":{\"inner\":{\"z\":true},\"again\":{\"z\":false},"
    "\"money\":{\"currency\":\"USD\",\"units\":0,\"nanos\":0}}}}";

static void test_json_both_ways(void **state) {
    check_value(&test_All_type, all_json);
    check_value(&test_A_type, "{\"b\":{\"test.B\":{\"a\":{\"b\":null},\"tag\":\"t\"}}}");
    /* every type's defaults */
    for (const brook_type_t *const *t = alltypes_types; *t; t++) {
        if (!strcmp((*t)->name, "test.B")) /* an init'ed B has no A to encode */
            continue;
        void *v = calloc(1, (*t)->size);
        brook_buf_t j;
        brook_buf_init(&j);
        (*t)->init(v);
        assert_int_equal((*t)->to_json(v, &j), 0);
        brook_buf_append(&j, "", 1);
        (*t)->clear(v);
        free(v);
        check_value(*t, (const char *)j.data);
        brook_buf_free(&j);
    }
}

static void expect_error(const char *json, const char *message) {
    const brook__cli_schema_t *s = brook__cli_catalog_name(catalog, "shop.Money");
    brook_error_t err = {0};
    brook_json_t *doc = brook_avro_json_parse(json, strlen(json), &err);
    assert_non_null(doc);
    brook_buf_t out;
    brook_buf_init(&out);
    assert_int_not_equal(
        brook__cli_avro_from_json(s, brook_avro_json_root(doc), "value", &out, &err), 0);
    if (!strstr(err.message, message))
        fail_msg("%s: got \"%s\", want \"%s\"", json, err.message, message);
    brook_buf_free(&out);
    brook_avro_json_free(doc);
}

/* What does not fit is named by its path. */
static void test_json_errors(void **state) {
    expect_error("{\"currency\":\"EUR\",\"units\":1}", "value.nanos: missing");
    expect_error("{\"currency\":\"XXX\",\"units\":1,\"nanos\":0}",
                 "value.currency: expected one of");
    expect_error("{\"currency\":\"EUR\",\"units\":\"1\",\"nanos\":0}",
                 "value.units: expected a long");
    expect_error("{\"currency\":\"EUR\",\"units\":1,\"nanos\":0,\"x\":1}", "value.x: not a field");
    expect_error("[]", "value: expected an object");
    expect_error("{\"currency\":\"EUR\",\"units\":1,\"nanos\":4294967296}",
                 "value.nanos: expected an int");
}

static void test_text(void **state) {
    assert_true(brook__cli_is_utf8("h\xc3\xa9\tx\n", 6, true));
    assert_false(brook__cli_is_utf8("a\0b", 3, true));
    assert_true(brook__cli_is_utf8("a\x01", 2, false));
    assert_false(brook__cli_is_utf8("a\x01", 2, true));
    assert_false(brook__cli_is_utf8("\xc3", 1, false));         /* truncated */
    assert_false(brook__cli_is_utf8("\xc0\xaf", 2, false));     /* overlong */
    assert_false(brook__cli_is_utf8("\xed\xa0\x80", 3, false)); /* surrogate */
    assert_false(brook__cli_is_utf8("\xc3\x01\x02", 3, false)); /* single-object header */
    brook_buf_t b;
    brook_buf_init(&b);
    const char *cases[][2] = {{"", ""},
                              {"f", "Zg=="},
                              {"fo", "Zm8="},
                              {"foo", "Zm9v"},
                              {"foob", "Zm9vYg=="},
                              {"fooba", "Zm9vYmE="},
                              {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        brook_buf_reset(&b);
        brook__cli_base64(&b, cases[i][0], strlen(cases[i][0]));
        assert_int_equal(b.len, strlen(cases[i][1]));
        assert_memory_equal(b.data, cases[i][1], b.len);
    }
    brook_buf_free(&b);
    char t[40];
    brook__cli_iso_time(1700000000123, t, sizeof(t));
    assert_string_equal(t, "2023-11-14T22:13:20.123Z");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fingerprints),
        cmocka_unit_test(test_json_both_ways),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_text),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
