/* avro.h/avro.c: primitives, CRC-64-AVRO, canonical form, framing, JSON helpers, arena; and
 * the resolver's error paths (avro_resolve.c). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "serde/avro_resolve.h"
#include "brook/avro.h"

static brook_avro_reader_t reader(const void *p, size_t n, brook_arena_t **a) {
    brook_avro_reader_t r = {p, p, (const uint8_t *)p + n, a, 0};
    return r;
}

static void test_varints(void **state) {
    (void)state;
    static const int64_t values[] = {0,   1,    -1,        63,        -64,       64,
                                     -65, 8191, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        brook_buf_t b;
        brook_buf_init(&b);
        assert_int_equal(brook_avro_write_long(&b, values[i]), 0);
        int64_t back;
        brook_avro_reader_t r = reader(b.data, b.len, NULL);
        assert_int_equal(brook_avro_read_long(&r, &back), 0);
        assert_true(back == values[i]);
        assert_ptr_equal(r.p, r.end);
        for (size_t n = 0; n < b.len; n++) { /* every truncation fails */
            r = reader(b.data, n, NULL);
            assert_int_equal(brook_avro_read_long(&r, &back), BROOK_ERR_DECODE);
        }
        brook_buf_free(&b);
    }
    /* zigzag: the spec's examples */
    brook_buf_t b;
    brook_buf_init(&b);
    brook_avro_write_long(&b, -1);
    brook_avro_write_long(&b, 1);
    brook_avro_write_long(&b, -64);
    brook_avro_write_long(&b, 64);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "\x01\x02\x7f\x80\x01", 5);
    brook_buf_free(&b);
    /* an 11-byte varint is refused; an int out of range too */
    static const uint8_t overlong[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0x01};
    int64_t v;
    brook_avro_reader_t r = reader(overlong, sizeof overlong, NULL);
    assert_int_equal(brook_avro_read_long(&r, &v), BROOK_ERR_DECODE);
    static const uint8_t big[] = {0x80, 0x80, 0x80, 0x80, 0x10};
    int32_t i32;
    r = reader(big, sizeof big, NULL);
    assert_int_equal(brook_avro_read_int(&r, &i32), BROOK_ERR_DECODE);
}

/* The cursor reader (generated decoders) on every varint length, 1 to 10 bytes, both with 10
 * bytes or more left (the word-at-a-time path) and with the varint at the very end; and a
 * non-canonical encoding (a continuation byte of zero bits), which the spec's reader takes. */
static void test_cursor_varints(void **state) {
    (void)state;
    for (int shift = 0; shift < 64; shift++) {
        const uint64_t bit = (uint64_t)1 << shift;
        const int64_t values[] = {(int64_t)bit, (int64_t)(bit - 1), (int64_t)(0 - bit),
                                  INT64_MIN + shift};
        for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
            uint8_t buf[32] = {0};
            size_t n = (size_t)(brook__avro_put_long(buf, values[i]) - buf);
            memset(buf + n, 0xff, sizeof buf - n); /* garbage after it must not be read */
            for (int tail = 0; tail < 2; tail++) {
                size_t len = tail ? n : sizeof buf;
                brook_avro_dec_t d = {buf, buf + len, NULL, NULL, NULL, 0, 0};
                int64_t back = 0;
                const uint8_t *q = brook_avro_get_long(buf, buf + len, &d, &back);
                assert_ptr_equal(q, buf + n);
                assert_true(back == values[i]);
            }
        }
    }
    static const uint8_t padded[] = {0x82, 0x80, 0x80, 0x00, 0, 0, 0, 0, 0, 0, 0, 0};
    brook_avro_dec_t d = {padded, padded + sizeof padded, NULL, NULL, NULL, 0, 0};
    int64_t v = 0;
    assert_ptr_equal(brook_avro_get_long(padded, padded + sizeof padded, &d, &v), padded + 4);
    assert_int_equal(v, 1);
}

static void test_strings_and_blocks(void **state) {
    (void)state;
    brook_arena_t *arena = NULL;
    brook_buf_t b;
    brook_buf_init(&b);
    brook_avro_write_string(&b, "h\xc3\xa9");
    brook_avro_write_bytes(&b, "\0\1", 2);
    brook_avro_write_string(&b, NULL);
    brook_avro_reader_t r = reader(b.data, b.len, &arena);
    char *s;
    brook_bytes_t by;
    assert_int_equal(brook_avro_read_string(&r, &s), 0);
    assert_string_equal(s, "h\xc3\xa9");
    assert_int_equal(brook_avro_read_bytes(&r, &by), 0);
    assert_int_equal(by.len, 2);
    assert_int_equal(brook_avro_read_string(&r, &s), 0);
    assert_string_equal(s, "");
    /* a length past the end */
    static const uint8_t bad[] = {0x08, 'a'};
    r = reader(bad, sizeof bad, &arena);
    assert_int_equal(brook_avro_read_string(&r, &s), BROOK_ERR_DECODE);
    /* negative block counts carry a byte size; counts beyond the input are refused */
    static const uint8_t neg[] = {0x03, 0x04, 0x00};
    size_t n;
    r = reader(neg, sizeof neg, &arena);
    assert_int_equal(brook_avro_read_block_count(&r, 0, &n), 0);
    assert_int_equal(n, 2);
    static const uint8_t huge[] = {0xfe, 0xff, 0xff, 0xff, 0x0f};
    r = reader(huge, sizeof huge, &arena);
    assert_int_equal(brook_avro_read_block_count(&r, 1, &n), BROOK_ERR_DECODE);
    brook_arena_free(&arena);
    brook_arena_free(&arena);
    assert_null(arena);
    brook_buf_free(&b);
}

static void test_arena(void **state) {
    (void)state;
    brook_arena_t *a = NULL;
    for (int i = 0; i < 10000; i++) {
        uint8_t *p = brook_arena_alloc(&a, (size_t)(i % 100) + 1);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xab, (size_t)(i % 100) + 1);
    }
    assert_non_null(brook_arena_alloc(&a, 5u << 20));
    brook_arena_free(&a);
    assert_null(a);
}

static void test_crc64(void **state) {
    (void)state;
    /* the specification's algorithm; "int" and "string" as in Avro's own test vectors */
    assert_true(brook_avro_crc64("", 0) == 0xc15d213aa4d7a795ULL);
    assert_true(brook_avro_crc64("\"int\"", 5) == 0x7275d51a3f395c8fULL);
    assert_true(brook_avro_crc64("\"string\"", 8) == 0x8f014872634503c7ULL);
    uint64_t fp;
    assert_int_equal(
        brook_avro_schema_fingerprint("{\"type\": \"string\", \"doc\": \"x\"}", &fp, NULL), 0);
    assert_true(fp == 0x8f014872634503c7ULL);
    assert_int_equal(brook_avro_schema_fingerprint(
                         "{\"type\":\"record\",\"name\":\"Money\",\"namespace\":\"shop\","
                         "\"fields\":[{\"name\":\"units\",\"type\":\"long\",\"default\":0}]}",
                         &fp, NULL),
                     0);
    assert_true(fp == 0xe9f7ce62f2451455ULL);
}

static void test_framing(void **state) {
    (void)state;
    brook_buf_t b;
    brook_buf_init(&b);
    assert_int_equal(brook_avro_write_single_object_header(&b, 0x8f014872634503c7ULL), 0);
    brook_avro_write_string(&b, "x");
    assert_memory_equal(b.data, "\xc3\x01\xc7\x03\x45\x63\x72\x48\x01\x8f", 10);
    brook_avro_frame_t f;
    brook_error_t err;
    assert_int_equal(brook_avro_parse_frame(b.data, b.len, &f, &err), 0);
    assert_int_equal(f.framing, BROOK_AVRO_FRAMING_SINGLE_OBJECT);
    assert_int_equal(f.payload_len, 2);
    for (size_t n = 0; n < 10; n++)
        assert_int_equal(brook_avro_parse_frame(b.data, n, &f, &err), BROOK_ERR_DECODE);
    brook_buf_reset(&b);
    brook_avro_write_confluent_header(&b, 42);
    assert_memory_equal(b.data, "\x00\x00\x00\x00\x2a", 5);
    assert_int_equal(brook_avro_parse_frame(b.data, b.len, &f, &err), 0);
    assert_int_equal(f.schema_id, 42);
    assert_int_equal(brook_avro_parse_frame("{\"json\":1}", 10, &f, &err), BROOK_ERR_DECODE);
    assert_non_null(strstr(err.message, "0x7b"));
    brook_buf_free(&b);
}

static void test_json(void **state) {
    (void)state;
    brook_buf_t b;
    brook_buf_init(&b);
    brook_avro_json_string(&b, "a\"b\\c\n\x01");
    brook_avro_json_raw(&b, " ");
    brook_avro_json_bytes(&b, "\x00\xff\x41", 3);
    brook_avro_json_raw(&b, " ");
    brook_avro_json_double(&b, NAN);
    brook_avro_json_raw(&b, " ");
    brook_avro_json_double(&b, -INFINITY);
    brook_avro_json_raw(&b, " ");
    brook_avro_json_double(&b, 2.0);
    brook_avro_json_raw(&b, " ");
    brook_avro_json_long(&b, INT64_MIN);
    const char *want = "\"a\\\"b\\\\c\\n\\u0001\" \"\\u0000\\u00ffA\" \"NaN\" \"-Infinity\" 2.0 "
                       "-9223372036854775808";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    /* bytes back from JSON, with their ISO-8859-1 rule */
    brook_error_t err;
    const char *text = "[\"\\u0000\\u00ffA\", \"NaN\", \"\\u0100\"]";
    brook_json_t *doc = brook_avro_json_parse(text, strlen(text), &err);
    assert_non_null(doc);
    brook_arena_t *arena = NULL;
    brook_bytes_t by;
    assert_int_equal(brook_avro_json_get_bytes(brook_avro_json_array_get(doc, 0), &arena, &by), 0);
    assert_int_equal(by.len, 3);
    assert_memory_equal(by.data, "\x00\xff\x41", 3);
    double d;
    assert_int_equal(brook_avro_json_get_double(brook_avro_json_array_get(doc, 1), &d), 0);
    assert_true(isnan(d));
    assert_int_equal(brook_avro_json_get_bytes(brook_avro_json_array_get(doc, 2), &arena, &by),
                     BROOK_ERR_DECODE);
    brook_avro_json_free(doc);
    assert_null(brook_avro_json_parse("{", 1, &err));
    brook_arena_free(&arena);
    brook_buf_free(&b);
}

static void test_resolver_errors(void **state) {
    (void)state;
    brook_error_t err;
    assert_null(brook__avro_resolver_new("\"int\"", "\"string\"", &err));
    assert_int_equal(err.code, BROOK_ERR_SCHEMA);
    assert_non_null(strstr(err.message, "incompatible writer schema"));
    brook__avro_resolver_t *r = brook__avro_resolver_new("\"int\"", "[\"null\", \"double\"]", &err);
    assert_non_null(r);
    brook_buf_t b, out;
    brook_buf_init(&b);
    brook_buf_init(&out);
    brook_avro_write_int(&b, -3);
    assert_int_equal(brook__avro_resolver_convert(r, b.data, b.len, &out, &err), 0);
    assert_int_equal(out.len, 9);
    assert_int_equal(out.data[0], 2); /* branch 1 */
    brook_avro_write_int(&b, 1);      /* trailing bytes */
    brook_buf_reset(&out);
    assert_int_equal(brook__avro_resolver_convert(r, b.data, b.len, &out, &err), BROOK_ERR_DECODE);
    brook__avro_resolver_destroy(r);
    brook__avro_resolver_destroy(NULL);
    brook_buf_free(&b);
    brook_buf_free(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varints),
        cmocka_unit_test(test_cursor_varints),
        cmocka_unit_test(test_strings_and_blocks),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_crc64),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_resolver_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
