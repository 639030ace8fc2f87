/* Serdes and the type registry: a descriptor without Brook's magic is refused, a Confluent
 * schema id is decoded only when the service declared it, a single-object record of an
 * unknown writer schema is refused with the reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "brook/avro.h"
#include "serde/serde.h"

/* t.N {int n}, written by hand as generated code would be. */
typedef struct {
    int32_t n;
} t_N;
#define N_SCHEMA                                                                                   \
    "{\"type\":\"record\",\"name\":\"t.N\",\"fields\":[{\"name\":\"n\",\"type\":\"int\"}]}"

static void n_init(void *v) {
    memset(v, 0, sizeof(t_N));
}
static void n_clear(void *v) {}
static int n_encode(const void *v, brook_buf_t *out) {
    return brook_avro_write_int(out, ((const t_N *)v)->n);
}
static int n_decode(void *v, const void *data, size_t len, brook_error_t *err) {
    brook_avro_reader_t r = {.p = data, .start = data, .end = (const uint8_t *)data + len};
    if (brook_avro_read_int(&r, &((t_N *)v)->n) || r.p != r.end)
        return brook_error_set(err, BROOK_ERR_DECODE, "bad t.N");
    return 0;
}

static brook_type_t n_type = {
    .magic = BROOK_TYPE_MAGIC,
    .name = "t.N",
    .schema_json = N_SCHEMA,
    .size = sizeof(t_N),
    .init = n_init,
    .clear = n_clear,
    .encode = n_encode,
    .decode = n_decode,
};

static void test_descriptor_magic(void **state) {
    brook__types_t *t = brook__types_new();
    brook_type_t foreign = n_type;
    foreign.magic = 0x42525400u | (BROOK_ABI_VERSION + 1);
    assert_int_equal(brook__types_add(t, &foreign), BROOK_ERR_SCHEMA);
    assert_null(brook__types_find(t, "t.N"));
    assert_int_equal(brook__types_add(t, &n_type), 0);
    assert_ptr_equal(brook__types_find(t, "t.N"), &n_type);
    brook__types_free(t);
}

static void confluent(brook_buf_t *b, int32_t id, int32_t n) {
    brook_buf_init(b);
    assert_int_equal(brook_avro_write_confluent_header(b, id), 0);
    assert_int_equal(brook_avro_write_int(b, n), 0);
}

static void test_confluent_ids(void **state) {
    assert_int_equal(brook_avro_schema_fingerprint(N_SCHEMA, &n_type.fingerprint, NULL), 0);
    brook__types_t *t = brook__types_new();
    assert_int_equal(brook__types_add(t, &n_type), 0);
    assert_int_equal(brook__types_add_schema_id(t, "t.N", 7), 0);
    brook_decl_serde_t d = {.kind = BROOK_SERDE_AVRO, .type_name = (char *)"t.N", .line = 3};
    brook__serde_t s;
    brook_error_t err = {0};
    assert_int_equal(
        brook__serde_resolve(&s, t, &d, "x.brook", BROOK_AVRO_FRAMING_CONFLUENT, 7, &err), 0);
    brook__decoded_t dec = {0};
    const void *out;
    brook_buf_t b;

    /* The declared id: decoded with the reader's schema. */
    confluent(&b, 7, 42);
    assert_int_equal(brook__serde_decode(&s, b.data, b.len, &dec, &out, &err), 0);
    assert_int_equal(((const t_N *)out)->n, 42);
    brook__decoded_clear(&s, &dec);
    brook_buf_free(&b);

    /* Another id could name any schema: refused, saying why. */
    confluent(&b, 8, 42);
    assert_int_equal(brook__serde_decode(&s, b.data, b.len, &dec, &out, &err), BROOK_ERR_SCHEMA);
    assert_non_null(strstr(err.message, "Confluent schema id 8 is not known for t.N"));
    brook__decoded_clear(&s, &dec);
    brook_buf_free(&b);

    /* Single-object framing of a fingerprint nobody registered: refused likewise. */
    brook_buf_init(&b);
    assert_int_equal(brook_avro_write_single_object_header(&b, n_type.fingerprint ^ 1), 0);
    assert_int_equal(brook_avro_write_int(&b, 1), 0);
    assert_int_equal(brook__serde_decode(&s, b.data, b.len, &dec, &out, &err), BROOK_ERR_SCHEMA);
    assert_non_null(strstr(err.message, "unknown writer schema"));
    brook_buf_free(&b);

    /* A type nobody registered is named with the declaration's file and line. */
    brook_decl_serde_t missing = {.kind = BROOK_SERDE_AVRO, .type_name = (char *)"t.M", .line = 9};
    assert_int_equal(
        brook__serde_resolve(&s, t, &missing, "x.brook", BROOK_AVRO_FRAMING_SINGLE_OBJECT, 0, &err),
        BROOK_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "x.brook:9: Avro type t.M is not registered"));
    brook__decoded_free(&s, &dec);
    brook__types_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor_magic),
        cmocka_unit_test(test_confluent_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
