/* Inputs the fuzz targets (tests/fuzz, docs/fuzzing.md) found that revealed bugs, fed again
 * byte for byte to the code they broke; each test names its target and the fix. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "brook/avro.h"
#include "registry/registry.h"
#include "serde/avro_resolve.h"

/* fuzz_registry_json: an answer's "id" was cut to 32 bits whatever it was, so {"id":-5} (or
 * 4294967297, taken as 1) became a template's schema id. Ids outside 0..2^31-1 are refused. */
static void registry_id_out_of_range(void **state) {
    (void)state;
    brook_decl_registry_t d = {.declared = true,
                               .url = "http://registry.invalid:8081",
                               .timeout_ms = 1000,
                               .cache_capacity = 10};
    brook_error_t err;
    brook__registry_t *r = brook__registry_new(&d, &err);
    assert_non_null(r);
    static const char *const bad[] = {"{\"id\":-5}", "{\"id\":4294967297}", "{\"id\":2147483648}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int32_t id = 99;
        memset(&err, 0, sizeof err);
        assert_int_equal(brook__registry_id_answer(r, "orders-value", i % 2, 200, bad[i],
                                                   strlen(bad[i]), &id, &err),
                         BROOK_ERR_IO);
        assert_int_equal(err.code, BROOK_ERR_IO);
        assert_non_null(strstr(err.message, "is not a schema id"));
        assert_int_equal(id, 99);
    }
    int32_t id = -1;
    const char *ok = "{\"id\":2147483647}";
    assert_int_equal(brook__registry_id_answer(r, "s", true, 200, ok, strlen(ok), &id, &err), 0);
    assert_int_equal(id, INT32_MAX);
    ok = "{\"id\":0}";
    assert_int_equal(brook__registry_id_answer(r, "s", false, 200, ok, strlen(ok), &id, &err), 0);
    assert_int_equal(id, 0);
    brook__registry_free(r);
}

/* fuzz_schema: an enum symbol that is not a string made the canonical form fail with
 * "out of memory" (json_string(NULL)); it is an invalid schema. */
static void canonical_form_enum_symbol_not_string(void **state) {
    (void)state;
    brook_buf_t b;
    brook_buf_init(&b);
    brook_error_t err = {0};
    assert_int_equal(
        brook_avro_canonical_form("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[1]}", &b, &err),
        BROOK_ERR_SCHEMA);
    assert_non_null(strstr(err.message, "not a string"));
    assert_int_equal(b.len, 0);
    uint64_t fp;
    assert_int_equal(brook_avro_schema_fingerprint(
                         "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",null]}", &fp, &err),
                     BROOK_ERR_SCHEMA);
    brook_buf_free(&b);
}

/* fuzz_schema: the resolver took the symbols of an enum as strings unchecked; comparing a
 * writer's non-string symbol with the reader's dereferenced NULL. */
static void resolver_enum_symbol_not_string(void **state) {
    (void)state;
    brook_error_t err = {0};
    const char *w = "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[1]}";
    const char *r = "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}";
    assert_null(brook__avro_resolver_new(w, r, &err));
    assert_int_equal(err.code, BROOK_ERR_SCHEMA);
    assert_non_null(strstr(err.message, "not a string"));
    assert_null(brook__avro_resolver_new(r, w, &err));
    assert_int_equal(err.code, BROOK_ERR_SCHEMA);
}

/* fuzz_avro_resolve (crash-4a5ca68b2dc1f26588887a50c77f6ea5fa54058a, its writer schema): a
 * record with two fields of one name was accepted; resolved against a reader with that field,
 * both writer fields were written into the reader's one. Avro forbids it: refused. */
static void resolver_duplicate_field(void **state) {
    (void)state;
    static const char writer[] =
        "{\"type\":\"record\",\"name\":\"shop.Money\",\"fields\":[{\"name\":\"units\",\"type\":"
        "\"int\"},{\"name\":\"extra\",\"type\":\"units\",\"type\":\"int\"},{\"name\":\"extra\","
        "\"type\":{\"type\":\"map\",\"values\":[\"null\",\"string\",{\"type\":\"array\",\"items\":"
        "\"double\"}]}},{\"name\":\"currency\",\"type\":{\"type\":\"enum\",\"name\":\"Currency\","
        "\"somybls\":[\"GBP\",\"CHF\"]}}]}";
    static const char reader[] =
        "{\"type\":\"record\",\"name\":\"shop.Money\",\"fields\":[{\"name\":\"units\",\"type\":"
        "\"long\"},{\"name\":\"extra\",\"type\":\"int\",\"default\":0}]}";
    brook_error_t err = {0};
    assert_null(brook__avro_resolver_new(writer, writer, &err));
    assert_int_equal(err.code, BROOK_ERR_SCHEMA);
    assert_non_null(strstr(err.message, "two fields named \"extra\""));
    assert_null(brook__avro_resolver_new(writer, reader, &err));
    assert_int_equal(err.code, BROOK_ERR_SCHEMA);
}

/* fuzz_schema: a reader union holding a union (and two int branches) was accepted when the
 * writer was a string, which picked the union's string branch, while the same reader schema
 * failed to resolve to itself. The specification forbids both: such a schema is refused. */
static void resolver_union_rules(void **state) {
    (void)state;
    static const char writer[] = "{\"type\":\"string\"}";
    static const char reader[] =
        "{\"type\":[{\"name\":\"units\",\"type\":\"int\"},{\"type\":\"string\"},"
        "{\"type\":\"enum\",\"name\":\"Kind\",\"symbols\":[\"A\",\"Z\"]},[\"null\",\"long\"]]}";
    static const char twice[] = "[\"null\",\"int\",\"string\",{\"type\":\"int\"}]";
    static const char named[] = "[\"null\",{\"type\":\"fixed\",\"name\":\"A\",\"size\":1},"
                                "{\"type\":\"fixed\",\"name\":\"B\",\"size\":2},\"string\"]";
    brook_error_t err = {0};
    assert_null(brook__avro_resolver_new(writer, reader, &err));
    assert_int_equal(err.code, BROOK_ERR_SCHEMA);
    assert_non_null(strstr(err.message, "a union in a union"));
    assert_null(brook__avro_resolver_new(reader, reader, &err));
    assert_null(brook__avro_resolver_new(twice, twice, &err));
    assert_int_equal(err.code, BROOK_ERR_SCHEMA);
    assert_non_null(strstr(err.message, "two int branches"));
    /* Named types of different names may share a union. */
    brook__avro_resolver_t *r = brook__avro_resolver_new(named, named, &err);
    assert_non_null(r);
    brook__avro_resolver_destroy(r);
}

/* fuzz_avro_resolve: a writer field that a reader field's alias names was converted into that
 * reader field even when the reader field had a writer field of its own name (the pair that
 * was checked): both landed in it, the string's bytes before the int. */
static void resolver_alias_and_name(void **state) {
    (void)state;
    const char *w = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"amt\",\"type\":"
                    "\"string\"},{\"name\":\"x\",\"type\":\"int\"}]}";
    const char *r = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"x\",\"type\":"
                    "\"int\",\"aliases\":[\"amt\"]}]}";
    brook_error_t err = {0};
    brook__avro_resolver_t *res = brook__avro_resolver_new(w, r, &err);
    assert_non_null(res);
    const uint8_t datum[] = {0x04, 'h', 'i', 0x0a}; /* "hi", 5 */
    brook_buf_t out;
    brook_buf_init(&out);
    assert_int_equal(brook__avro_resolver_convert(res, datum, sizeof datum, &out, &err), 0);
    assert_int_equal(out.len, 1);
    assert_int_equal(out.data[0], 0x0a);
    brook_buf_free(&out);
    brook__avro_resolver_destroy(res);
}

/* fuzz_avro_resolve (crash-0f15ba73b7f82b9bd4ce216794a3b44c57b2c910: the schema "null"): a
 * convert of no data (an empty brook_buf_t, data NULL, as the resolver's own output of a null
 * is) computed NULL + 0, undefined behaviour that clang's UBSan reports (gcc's does not); NULL
 * with a length failed without saying why. */
static void resolver_convert_null_data(void **state) {
    (void)state;
    brook_error_t err = {0};
    brook__avro_resolver_t *res = brook__avro_resolver_new("\"null\"", "\"null\"", &err);
    assert_non_null(res);
    brook_buf_t out;
    brook_buf_init(&out);
    assert_int_equal(brook__avro_resolver_convert(res, NULL, 0, &out, &err), 0);
    assert_int_equal(out.len, 0);
    memset(&err, 0, sizeof err); /* and no data with a length fails saying so */
    assert_int_equal(brook__avro_resolver_convert(res, NULL, 1, &out, &err), BROOK_ERR_DECODE);
    assert_int_equal(err.code, BROOK_ERR_DECODE);
    assert_non_null(strstr(err.message, "no data"));
    brook_buf_free(&out);
    brook__avro_resolver_destroy(res);
}

/* Found by reading the resolver while writing fuzz_avro_resolve, confirmed with it (an input
 * of 4 KB ran over 100 s): values that take no bytes cost work all the same. A writer schema
 * (a schema registry's) of an array of nulls lets a block of three bytes hold a million values,
 * and one of records of two fields of records of two fields ... holds 2^depth values in no
 * bytes. A value now holds at most a million values plus 1024 per byte. */
static void resolver_work_bounded(void **state) {
    (void)state;
    brook_error_t err = {0};
    const char *nulls = "{\"type\":\"array\",\"items\":\"null\"}";
    brook__avro_resolver_t *res = brook__avro_resolver_new(nulls, nulls, &err);
    assert_non_null(res);
    brook_buf_t out;
    brook_buf_init(&out);
    /* 20 blocks of 2^20 nulls (count 2^20: zigzag 2^21 = 80 80 80 01), then the end */
    uint8_t data[20 * 4 + 1];
    for (int i = 0; i < 20; i++)
        memcpy(data + 4 * i, "\x80\x80\x80\x01", 4);
    data[80] = 0;
    assert_int_equal(brook__avro_resolver_convert(res, data, sizeof data, &out, &err),
                     BROOK_ERR_DECODE);
    assert_non_null(strstr(err.message, "values in 81 bytes"));
    assert_int_equal(out.len, 0);
    const uint8_t few[] = {0x14, 0x00}; /* 10 nulls */
    assert_int_equal(brook__avro_resolver_convert(res, few, sizeof few, &out, &err), 0);
    brook_buf_free(&out);
    brook__avro_resolver_destroy(res);

    /* R0 { a: R1, b: R1 }, R1 { a: R2, b: R2 } ... R24 {}: 2^25 records, no bytes */
    char *schema = strdup("{\"type\":\"record\",\"name\":\"R24\",\"fields\":[]}");
    for (int k = 23; k >= 0; k--) {
        char *next = NULL;
        assert_true(asprintf(&next,
                             "{\"type\":\"record\",\"name\":\"R%d\",\"fields\":[{\"name\":"
                             "\"a\",\"type\":%s},{\"name\":\"b\",\"type\":\"R%d\"}]}",
                             k, schema, k + 1) > 0);
        free(schema);
        schema = next;
    }
    res = brook__avro_resolver_new(schema, schema, &err);
    assert_non_null(res);
    brook_buf_init(&out);
    assert_int_equal(brook__avro_resolver_convert(res, "", 0, &out, &err), BROOK_ERR_DECODE);
    assert_non_null(strstr(err.message, "values in 0 bytes"));
    brook_buf_free(&out);
    brook__avro_resolver_destroy(res);
    free(schema);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(registry_id_out_of_range),
        cmocka_unit_test(canonical_form_enum_symbol_not_string),
        cmocka_unit_test(resolver_enum_symbol_not_string),
        cmocka_unit_test(resolver_duplicate_field),
        cmocka_unit_test(resolver_union_rules),
        cmocka_unit_test(resolver_alias_and_name),
        cmocka_unit_test(resolver_convert_null_data),
        cmocka_unit_test(resolver_work_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
