/* Schema evolution: data written with other versions of a type, resolved to the reader's type
 * (framework/src/serde/avro_resolve.c) and read by the generated decoder. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serde/avro_resolve.h"
#include "evo.brook.h"

#include "check.h"

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    return s;
}

/* v1: {amount_cents: int, order_id: string, currency: enum{EUR,USD,GBP}, legacy: string} */
static void test_v1_to_current(void) {
    char *v1 = slurp(BROOK_TEST_DIR "/valid/payment/schemas/order_placed_v1.avsc");
    CHECK(v1 != NULL);
    brook_error_t err = {0, ""};
    brook__avro_resolver_t *r =
        brook__avro_resolver_new(v1, shop_OrderPlaced_type.resolution_json, &err);
    if (!r)
        fprintf(stderr, "resolver: %s\n", err.message);
    CHECK(r != NULL);
    for (int sym = 0; sym < 3; sym++) {
        brook_buf_t w, out;
        brook_buf_init(&w);
        brook_buf_init(&out);
        brook_avro_write_int(&w, -1234567);
        brook_avro_write_string(&w, "o-42");
        brook_avro_write_int(&w, sym);
        brook_avro_write_string(&w, "dropped");
        CHECK(brook__avro_resolver_convert(r, w.data, w.len, &out, &err) == 0);
        shop_OrderPlaced v = {0};
        CHECK(shop_OrderPlaced_decode(&v, out.data, out.len, &err) == 0);
        CHECK(v.amount_cents == -1234567);
        CHECK(v.order_id && !strcmp(v.order_id, "o-42"));
        CHECK(v.currency == (sym == 0   ? shop_Currency_EUR
                             : sym == 1 ? shop_Currency_USD
                                        : shop_Currency_OTHER));
        CHECK(!v.has_note);
        shop_OrderPlaced_clear(&v);
        /* truncated writer data fails cleanly and leaves out as it was */
        for (size_t n = 0; n < w.len; n++) {
            brook_buf_reset(&out);
            CHECK(brook__avro_resolver_convert(r, w.data, n, &out, &err) == BROOK_ERR_DECODE);
            CHECK(out.len == 0);
        }
        brook_buf_free(&w);
        brook_buf_free(&out);
    }
    brook__avro_resolver_destroy(r);
    free(v1);
}

static brook__avro_resolver_t *resolver(const char *w, const char *r, brook_error_t *err) {
    return brook__avro_resolver_new(w, r, err);
}

static void test_promotions(void) {
    brook_error_t err = {0, ""};
    const char *w =
        "{\"type\":\"record\",\"name\":\"P\",\"fields\":["
        "{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":\"long\"},"
        "{\"name\":\"c\",\"type\":\"float\"},{\"name\":\"d\",\"type\":\"string\"},"
        "{\"name\":\"e\",\"type\":\"bytes\"},{\"name\":\"f\",\"type\":[\"null\",\"int\"]},"
        "{\"name\":\"g\",\"type\":\"int\"}]}";
    const char *rd =
        "{\"type\":\"record\",\"name\":\"ns.P\",\"fields\":["
        "{\"name\":\"g\",\"type\":[\"null\",\"long\"]},"
        "{\"name\":\"a\",\"type\":\"double\"},{\"name\":\"b\",\"type\":\"float\"},"
        "{\"name\":\"c\",\"type\":\"double\"},{\"name\":\"d\",\"type\":\"bytes\"},"
        "{\"name\":\"e\",\"type\":\"string\"},{\"name\":\"f\",\"type\":[\"null\",\"long\"]},"
        "{\"name\":\"h\",\"type\":{\"type\":\"array\",\"items\":\"int\"},\"default\":[1,2]},"
        "{\"name\":\"i\",\"type\":{\"type\":\"map\",\"values\":\"string\"},\"default\":{\"k\":"
        "\"\\u0000\"}},"
        "{\"name\":\"j\",\"type\":{\"type\":\"record\",\"name\":\"Q\",\"fields\":[{\"name\":\"x\","
        "\"type\":\"boolean\"}]},\"default\":{\"x\":true}}]}";
    brook__avro_resolver_t *r = resolver(w, rd, &err);
    if (!r)
        fprintf(stderr, "%s\n", err.message);
    CHECK(r != NULL);
    if (!r)
        return;
    brook_buf_t in, out;
    brook_buf_init(&in);
    brook_buf_init(&out);
    brook_avro_write_int(&in, 7);
    brook_avro_write_long(&in, INT64_MAX);
    brook_avro_write_float(&in, 1.5f);
    brook_avro_write_string(&in, "str");
    brook_avro_write_bytes(&in, "\x00\xff", 2);
    brook_avro_write_long(&in, 1);
    brook_avro_write_int(&in, -3);
    brook_avro_write_int(&in, 99);
    CHECK(brook__avro_resolver_convert(r, in.data, in.len, &out, &err) == 0);
    brook_avro_reader_t rd2 = {out.data, out.data, out.data + out.len, NULL, 0};
    int64_t l;
    double d;
    float f;
    CHECK(brook_avro_read_long(&rd2, &l) == 0 && l == 1); /* g: union branch long */
    CHECK(brook_avro_read_long(&rd2, &l) == 0 && l == 99);
    CHECK(brook_avro_read_double(&rd2, &d) == 0 && d == 7.0); /* a */
    CHECK(brook_avro_read_float(&rd2, &f) == 0 && f == (float)INT64_MAX);
    CHECK(brook_avro_read_double(&rd2, &d) == 0 && d == 1.5);
    CHECK(brook_avro_read_long(&rd2, &l) == 0 && l == 3 && rd2.p[0] == 's'); /* d */
    rd2.p += 3;
    CHECK(brook_avro_read_long(&rd2, &l) == 0 && l == 2 && rd2.p[1] == 0xff); /* e */
    rd2.p += 2;
    CHECK(brook_avro_read_long(&rd2, &l) == 0 && l == 1); /* f: branch long */
    CHECK(brook_avro_read_long(&rd2, &l) == 0 && l == -3);
    CHECK(brook_avro_read_long(&rd2, &l) == 0 && l == 2); /* h: default [1,2] */
    CHECK(brook_avro_read_long(&rd2, &l) == 0 && l == 1);
    CHECK(brook_avro_read_long(&rd2, &l) == 0 && l == 2);
    CHECK(brook_avro_read_long(&rd2, &l) == 0 && l == 0);
    CHECK(brook_avro_read_long(&rd2, &l) == 0 && l == 1); /* i: {"k": "\0"} */
    CHECK(brook_avro_read_long(&rd2, &l) == 0 && l == 1 && rd2.p[0] == 'k');
    rd2.p += 1;
    CHECK(brook_avro_read_long(&rd2, &l) == 0 && l == 1 && rd2.p[0] == 0);
    rd2.p += 1;
    CHECK(brook_avro_read_long(&rd2, &l) == 0 && l == 0);
    CHECK(rd2.p < rd2.end && *rd2.p == 1); /* j.x = true */
    CHECK(rd2.p + 1 == rd2.end);
    brook__avro_resolver_destroy(r);
    brook_buf_free(&in);
    brook_buf_free(&out);
}

static void test_incompatible(void) {
    brook_error_t err = {0, ""};
    const char *reader = shop_OrderPlaced_type.resolution_json;
    /* a field whose type cannot be promoted */
    const char *w1 = "{\"type\":\"record\",\"name\":\"shop.OrderPlaced\",\"fields\":["
                     "{\"name\":\"order_id\",\"type\":\"string\"},"
                     "{\"name\":\"amount_cents\",\"type\":\"double\"},"
                     "{\"name\":\"currency\",\"type\":{\"type\":\"enum\",\"name\":\"Currency\","
                     "\"symbols\":[\"EUR\"]}}]}";
    CHECK(resolver(w1, reader, &err) == NULL);
    CHECK(err.code == BROOK_ERR_SCHEMA);
    CHECK(strstr(err.message, "incompatible writer schema") != NULL);
    CHECK(strstr(err.message, "amount_cents") != NULL);
    /* a reader field without default the writer lacks */
    const char *w2 = "{\"type\":\"record\",\"name\":\"shop.OrderPlaced\",\"fields\":["
                     "{\"name\":\"amount_cents\",\"type\":\"long\"}]}";
    CHECK(resolver(w2, reader, &err) == NULL);
    CHECK(strstr(err.message, "order_id") != NULL);
    /* another record name */
    const char *w3 = "{\"type\":\"record\",\"name\":\"shop.Other\",\"fields\":[]}";
    CHECK(resolver(w3, reader, &err) == NULL);
    /* an enum symbol the reader lacks, without a reader default */
    const char *re = "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}";
    const char *we = "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}";
    CHECK(resolver(we, re, &err) == NULL);
    CHECK(resolver("{not json", reader, &err) == NULL);
    CHECK(err.code == BROOK_ERR_SCHEMA);
}

int main(void) {
    test_v1_to_current();
    test_promotions();
    test_incompatible();
    return checks_done("evolution");
}
