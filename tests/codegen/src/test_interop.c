/* Interop of generated codecs (unit "interop", the alltypes schemas in schemas-only mode):
 *  - avro-c's generic values read our encoding and re-encode it byte for byte, and values built
 *    with avro-c's API decode with generated code;
 *  - python3-avro (tests/interop/avro_codec_interop.py) agrees on canonical forms and
 *    fingerprints, re-encodes our bytes identically, and its encodings decode here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <avro.h>

#include "interop.brook.h"
#include "all_values.h"

#include "check.h"

static void write_file(const char *name, const void *data, size_t len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", BROOK_INTEROP_DIR, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK(fwrite(data, 1, len, f) == len);
        fclose(f);
    }
}

static void *read_file(const char *name, size_t *len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", BROOK_INTEROP_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc((size_t)n + 1);
    *len = fread(p, 1, (size_t)n, f);
    fclose(f);
    return p;
}

/* avro-c reads `data` as a value of `type` and writes it back: must be the same bytes. */
static void avro_c_reencode(const brook_type_t *type, const void *data, size_t len) {
    avro_schema_t schema;
    if (avro_schema_from_json_length(type->schema_json, strlen(type->schema_json), &schema)) {
        fprintf(stderr, "avro-c: %s\n", avro_strerror());
        failures++;
        return;
    }
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t v;
    avro_generic_value_new(iface, &v);
    avro_reader_t r = avro_reader_memory(data, (int64_t)len);
    int rc = avro_value_read(r, &v);
    if (rc)
        fprintf(stderr, "avro-c cannot read %s: %s\n", type->name, avro_strerror());
    CHECK(rc == 0);
    size_t size = 0;
    CHECK(avro_value_sizeof(&v, &size) == 0);
    CHECK(size == len);
    char *buf = malloc(size + 1);
    avro_writer_t w = avro_writer_memory(buf, (int64_t)size);
    CHECK(avro_value_write(w, &v) == 0);
    CHECK(size == len && !memcmp(buf, data, len));
    avro_writer_free(w);
    avro_reader_free(r);
    free(buf);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
}

static void test_avro_c(void) {
    char *big = big_string(100000);
    for (int k = 0; k < 5; k++) {
        test_All v;
        fill(&v, k, big);
        brook_buf_t b;
        brook_buf_init(&b);
        CHECK(test_All_encode(&v, &b) == 0);
        avro_c_reencode(&test_All_type, b.data, b.len);
        char name[32];
        snprintf(name, sizeof name, "all_%d.bin", k);
        write_file(name, b.data, b.len);
        brook_buf_free(&b);
        test_All_clear(&v);
    }
    free(big);

    /* a value built with avro-c's API, decoded by generated code */
    avro_schema_t schema;
    CHECK(avro_schema_from_json_length(shop_Money_type.schema_json,
                                       strlen(shop_Money_type.schema_json), &schema) == 0);
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t v, f;
    avro_generic_value_new(iface, &v);
    avro_value_get_by_name(&v, "currency", &f, NULL);
    avro_value_set_enum(&f, 2);
    avro_value_get_by_name(&v, "units", &f, NULL);
    avro_value_set_long(&f, INT64_MIN);
    avro_value_get_by_name(&v, "nanos", &f, NULL);
    avro_value_set_int(&f, -1);
    char buf[64];
    avro_writer_t w = avro_writer_memory(buf, sizeof buf);
    CHECK(avro_value_write(w, &v) == 0);
    size_t len = (size_t)avro_writer_tell(w);
    shop_Money m = {0};
    brook_error_t err;
    CHECK(shop_Money_decode(&m, buf, len, &err) == 0);
    CHECK(m.currency == shop_Currency_GBP && m.units == INT64_MIN && m.nanos == -1);
    brook_buf_t ours;
    brook_buf_init(&ours);
    CHECK(shop_Money_encode(&m, &ours) == 0);
    CHECK(ours.len == len && !memcmp(ours.data, buf, len));
    shop_Money_clear(&m);
    brook_buf_free(&ours);
    avro_writer_free(w);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
}

static void test_python(void) {
    for (const brook_type_t *const *t = interop_types; *t; t++) {
        char name[256];
        snprintf(name, sizeof name, "schema_%s.json", (*t)->name);
        write_file(name, (*t)->resolution_json, strlen((*t)->resolution_json));
        snprintf(name, sizeof name, "pcf_%s.txt", (*t)->name);
        write_file(name, (*t)->schema_json, strlen((*t)->schema_json));
        char fp[32];
        snprintf(fp, sizeof fp, "%016llx", (unsigned long long)(*t)->fingerprint);
        snprintf(name, sizeof name, "fp_%s.txt", (*t)->name);
        write_file(name, fp, strlen(fp));
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s/../interop/avro_codec_interop.py %s", BROOK_PYTHON,
             BROOK_TEST_DIR, BROOK_INTEROP_DIR);
    int rc = system(cmd);
    CHECK(rc == 0);

    size_t len;
    void *data = read_file("py_money.bin", &len);
    CHECK(data != NULL);
    if (data) {
        shop_Money m = {0};
        brook_error_t err;
        CHECK(shop_Money_decode(&m, data, len, &err) == 0);
        CHECK(m.currency == shop_Currency_GBP && m.units == INT64_MIN && m.nanos == INT32_MAX);
        brook_buf_t b;
        brook_buf_init(&b);
        CHECK(shop_Money_encode(&m, &b) == 0 && b.len == len && !memcmp(b.data, data, len));
        brook_buf_free(&b);
        shop_Money_clear(&m);
        free(data);
    }
    data = read_file("py_all.bin", &len);
    CHECK(data != NULL);
    if (data) {
        test_All a = {0};
        brook_error_t err;
        int drc = test_All_decode(&a, data, len, &err);
        if (drc)
            fprintf(stderr, "py_all.bin: %s\n", err.message);
        CHECK(drc == 0);
        CHECK(!a.b && a.i == INT32_MIN && a.l == INT64_MAX && isinf(a.f) && a.d == M_PI);
        CHECK(a.by.len == 3 && a.by.data[2] == 0xfe);
        CHECK(!strcmp(a.s, "p\xc3\xbcthon \xe2\x98\x83"));
        CHECK(a.e == shop_Currency_USD && a.fx.bytes[15] == 15);
        CHECK(a.arr.n == 3 && a.arr.items[1] == -1 && a.arr_s.n == 0);
        CHECK(a.m.n == 2 && !strcmp(a.m.keys[1], "b") && a.m.values[1] == -2);
        CHECK(a.has_opt_2 && !strcmp(a.opt, "here") && !a.has_opt_rec); /* has_opt is a field */
        CHECK(a.u.branch == 3 && a.u.value.shop_Money.units == 5);
        CHECK(a.u2.branch == 1 && a.u2.value.long_ == 77);
        CHECK(a.arr_rec.n == 2 && a.arr_rec.items[1].units == INT64_MIN);
        CHECK(a.map_arr.n == 1 && a.map_arr.values[0].n == 2 && !a.map_arr.values[0].items[0].has &&
              a.map_arr.values[0].items[1].value == 3);
        CHECK(a.int_ == 42 && !a.has_rev);
        CHECK(a.node.children.n == 1 && a.node.children.items[0].value == 2 && a.node.has_next &&
              a.node.next->value == 3);
        CHECK(a.has_outer && a.outer.inner.z && !a.outer.again.z);
        brook_buf_t b;
        brook_buf_init(&b);
        CHECK(test_All_encode(&a, &b) == 0 && b.len == len && !memcmp(b.data, data, len));
        brook_buf_free(&b);
        test_All_clear(&a);
        free(data);
    }
}

int main(void) {
    mkdir(BROOK_INTEROP_DIR, 0777);
    test_avro_c();
    test_python();
    return checks_done("interop");
}
