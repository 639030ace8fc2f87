/* Round trip of every Avro type through generated code (tests/codegen/valid/alltypes):
 * defaults, binary and JSON encodings, edge values, truncated and corrupted input, decoding
 * again into a decoded value. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "all_types.brook.h"
#include "all_values.h"

#include "check.h"

/* Handlers the service glue refers to. */
brook_result_t on_all(brook_ctx_t *ctx, const char *key, const test_All *value) {
    (void)ctx, (void)key, (void)value;
    return BROOK_OK;
}
brook_result_t on_json(brook_ctx_t *ctx, const char *key, const char *value) {
    (void)ctx, (void)key, (void)value;
    return BROOK_OK;
}
brook_result_t on_raw(brook_ctx_t *ctx, const brook_bytes_t *key, const brook_bytes_t *value) {
    (void)ctx, (void)key, (void)value;
    return BROOK_OK;
}

static void test_defaults(void) {
    test_All v;
    test_All_init(&v);
    CHECK(v.b == true);
    CHECK(v.i == -5);
    CHECK(v.l == INT64_MIN);
    CHECK(v.f == 1.5f);
    CHECK(v.d == -0.25);
    CHECK(v.by.len == 3 && v.by.data[0] == 0xff && v.by.data[1] == 0 && v.by.data[2] == 'a');
    CHECK(!strcmp(v.s, "h\xc3\xa9 \"q\" */ ?\?/ \\"));
    CHECK(v.e == shop_Currency_GBP);
    CHECK(v.arr.n == 0);
    CHECK(v.arr_s.n == 2 && !strcmp(v.arr_s.items[0], "a") && !strcmp(v.arr_s.items[1], "b"));
    CHECK(v.m.n == 1 && !strcmp(v.m.keys[0], "x") && v.m.values[0] == 1);
    CHECK(!v.has_opt && !v.has_opt_rec);
    CHECK(v.u.branch == 0);
    CHECK(v.u2.branch == 0 && !strcmp(v.u2.value.string, "x"));
    CHECK(v.nested.currency == shop_Currency_USD && v.nested.nanos == 0);
    CHECK(v.nested_def.currency == shop_Currency_GBP && v.nested_def.units == 7);
    CHECK(v.has_rev && v.rev == 3);
    CHECK(v.has_opt == false && v.has_opt_2 == false);
    CHECK(!strcmp(v.default_, ""));
    test_All_clear(&v);
    test_All_clear(&v); /* clear twice is fine */
}

static void roundtrip(const test_All *v, const char *what) {
    brook_buf_t a, b, j;
    brook_buf_init(&a);
    brook_buf_init(&b);
    brook_buf_init(&j);
    brook_error_t err = {0, ""};
    CHECK(test_All_encode(v, &a) == 0);
    test_All d = {0}; /* decode frees what the value owns: never uninitialized memory */
    int rc = test_All_decode(&d, a.data, a.len, &err);
    if (rc)
        fprintf(stderr, "%s: decode: %s\n", what, err.message);
    CHECK(rc == 0);
    CHECK(test_All_encode(&d, &b) == 0);
    CHECK(a.len == b.len && !memcmp(a.data, b.data, a.len));
    /* JSON: to_json(decode(x)) parsed back encodes to the same binary */
    CHECK(test_All_to_json(&d, &j) == 0);
    test_All_clear(&d);
    test_All f = {0};
    rc = test_All_from_json(&f, (const char *)j.data, j.len, &err);
    if (rc)
        fprintf(stderr, "%s: from_json: %s\n%.*s\n", what, err.message,
                (int)(j.len > 2000 ? 2000 : j.len), j.data);
    CHECK(rc == 0);
    brook_buf_reset(&b);
    CHECK(test_All_encode(&f, &b) == 0);
    CHECK(a.len == b.len && !memcmp(a.data, b.data, a.len));
    test_All_clear(&f);

    /* every truncation fails cleanly; corruptions never crash */
    for (size_t n = 0; n < a.len && n < 4096; n++) {
        CHECK(test_All_decode(&d, a.data, n, &err) != 0);
        test_All_clear(&d);
    }
    uint32_t seed = 12345;
    for (int k = 0; k < 2000; k++) {
        seed = seed * 1103515245 + 12345;
        size_t pos = (seed >> 8) % a.len;
        uint8_t old = a.data[pos];
        a.data[pos] ^= (uint8_t)(1 + (seed >> 3) % 255);
        if (test_All_decode(&d, a.data, a.len, &err) == 0) {
            brook_buf_reset(&b);
            test_All_encode(&d, &b);
        }
        if (k % 2) /* else decoded over by the next one */
            test_All_clear(&d);
        a.data[pos] = old;
    }
    brook_buf_free(&a);
    brook_buf_free(&b);
    brook_buf_free(&j);
}

static void test_values(void) {
    char *big = big_string(1 << 20);
    for (int variant = 0; variant < 5; variant++) {
        test_All v;
        fill(&v, variant, big);
        char what[32];
        snprintf(what, sizeof what, "variant %d", variant);
        roundtrip(&v, what);
        test_All_clear(&v);
    }
    free(big);
}

/* Decoding (or parsing JSON) again into a value that owns an arena frees that arena first:
 * run under valgrind (memcheck.test_codegen_roundtrip) or ASan, this leaks nothing. */
static void test_decode_again(void) {
    char *big = big_string(4096);
    brook_buf_t a1, a2, b, j;
    brook_buf_init(&a1);
    brook_buf_init(&a2);
    brook_buf_init(&b);
    brook_buf_init(&j);
    test_All v;
    fill(&v, 1, big); /* fill's memory is static: one value at a time */
    CHECK(test_All_encode(&v, &a1) == 0);
    CHECK(test_All_to_json(&v, &j) == 0);
    test_All_clear(&v);
    fill(&v, 2, big);
    CHECK(test_All_encode(&v, &a2) == 0);
    test_All_clear(&v);
    brook_error_t err = {0, ""};

    test_All d;
    test_All_init(&d); /* the defaults already take arena memory */
    CHECK(d.brook_arena_ != NULL);
    for (int k = 0; k < 3; k++) {
        const brook_buf_t *in = k % 2 ? &a2 : &a1;
        CHECK(test_All_decode(&d, in->data, in->len, &err) == 0);
        CHECK(d.brook_arena_ != NULL);
        brook_buf_reset(&b);
        CHECK(test_All_encode(&d, &b) == 0);
        CHECK(b.len == in->len && !memcmp(b.data, in->data, b.len));
    }
    /* from_json into the decoded value, then decode into the parsed one */
    CHECK(test_All_from_json(&d, (const char *)j.data, j.len, &err) == 0);
    brook_buf_reset(&b);
    CHECK(test_All_encode(&d, &b) == 0);
    CHECK(b.len == a1.len && !memcmp(b.data, a1.data, b.len));
    CHECK(test_All_decode(&d, a2.data, a2.len, &err) == 0);
    /* a failed decode into a decoded value: what it owned is freed, the rest is clearable */
    CHECK(test_All_decode(&d, a1.data, a1.len / 2, &err) == BROOK_ERR_DECODE);
    test_All_clear(&d);
    CHECK(d.brook_arena_ == NULL);

    /* a recursive type, whose records below the top come from the same arena */
    test_Node n1, n2, n3;
    test_Node_init(&n1);
    test_Node_init(&n2);
    test_Node_init(&n3);
    n1.value = 1;
    n1.has_next = true;
    n1.next = &n2;
    n2.value = 2;
    n1.children.n = 1;
    n1.children.items = &n3;
    brook_buf_reset(&b);
    CHECK(test_Node_encode(&n1, &b) == 0);
    test_Node nd = {0};
    const brook_arena_t *first = NULL;
    for (int k = 0; k < 2; k++) {
        CHECK(test_Node_decode(&nd, b.data, b.len, &err) == 0);
        CHECK(nd.value == 1 && nd.has_next && nd.next->value == 2 && nd.children.n == 1);
        /* decoding again empties the value's one block and decodes into it */
        if (!k)
            first = nd.brook_arena_;
        CHECK(first && nd.brook_arena_ == first && !first->next);
    }
    test_Node_clear(&nd);

    /* a value's block of more than 64 KiB is not kept for the next decode */
    char *huge = big_string(100000);
    fill(&v, 1, huge);
    brook_buf_reset(&b);
    CHECK(test_All_encode(&v, &b) == 0);
    test_All_clear(&v);
    CHECK(test_All_decode(&d, b.data, b.len, &err) == 0);
    CHECK(d.brook_arena_ && d.brook_arena_->cap > 100000);
    CHECK(test_All_decode(&d, a2.data, a2.len, &err) == 0);
    CHECK(d.brook_arena_ && d.brook_arena_->cap < 100000);
    brook_buf_reset(&b);
    CHECK(test_All_encode(&d, &b) == 0);
    CHECK(b.len == a2.len && !memcmp(b.data, a2.data, b.len));
    test_All_clear(&d);
    free(huge);

    brook_buf_free(&a1);
    brook_buf_free(&a2);
    brook_buf_free(&b);
    brook_buf_free(&j);
    free(big);
}

static void test_recursive(void) {
    /* a 300-deep linked list and a tree decode; 2000 deep is refused, not a stack overflow */
    for (int depth = 300; depth <= 2000; depth += 1700) {
        test_Node *nodes = calloc((size_t)depth, sizeof(test_Node));
        for (int i = 0; i < depth; i++) {
            test_Node_init(&nodes[i]);
            nodes[i].value = i;
            if (i + 1 < depth) {
                nodes[i].has_next = true;
                nodes[i].next = &nodes[i + 1];
            }
        }
        nodes[0].children.n = 2;
        nodes[0].children.items = &nodes[depth - 2];
        brook_buf_t a, b;
        brook_buf_init(&a);
        brook_buf_init(&b);
        CHECK(test_Node_encode(&nodes[0], &a) == 0);
        test_Node d = {0};
        brook_error_t err;
        int rc = test_Node_decode(&d, a.data, a.len, &err);
        if (depth < BROOK_AVRO_MAX_DEPTH) {
            CHECK(rc == 0);
            CHECK(test_Node_encode(&d, &b) == 0);
            CHECK(a.len == b.len && !memcmp(a.data, b.data, a.len));
            const test_Node *p = &d;
            int n = 1;
            while (p->has_next) {
                p = p->next;
                n++;
            }
            CHECK(n == depth);
        } else {
            CHECK(rc == BROOK_ERR_DECODE);
        }
        test_Node_clear(&d);
        brook_buf_free(&a);
        brook_buf_free(&b);
        free(nodes);
    }
    /* mutual recursion A -> B -> A */
    test_A a1, a2;
    test_B b1;
    test_A_init(&a1);
    test_A_init(&a2);
    test_B_init(&b1);
    a1.has_b = true;
    a1.b = &b1;
    b1.a = &a2;
    b1.tag = "t";
    brook_buf_t out;
    brook_buf_init(&out);
    CHECK(test_A_encode(&a1, &out) == 0);
    test_A d = {0};
    CHECK(test_A_decode(&d, out.data, out.len, NULL) == 0);
    CHECK(d.has_b && !strcmp(d.b->tag, "t") && !d.b->a->has_b);
    test_A_clear(&d);
    brook_buf_free(&out);
}

static void test_descriptors(void) {
    size_t n = 0;
    for (const brook_type_t *const *t = all_types_types; *t; t++, n++) {
        CHECK((*t)->fingerprint == brook_avro_crc64((*t)->schema_json, strlen((*t)->schema_json)));
        CHECK((*t)->resolution_json != NULL);
        void *v = calloc(1, (*t)->size);
        (*t)->init(v);
        brook_buf_t b;
        brook_buf_init(&b);
        int rc = (*t)->encode(v, &b);
        /* test.A holds a required B.a by pointer: an init'ed B cannot be encoded */
        if (strcmp((*t)->name, "test.B")) {
            CHECK(rc == 0);
            (*t)->clear(v);
            CHECK((*t)->decode(v, b.data, b.len, NULL) == 0);
            brook_buf_reset(&b);
            CHECK((*t)->to_json(v, &b) == 0);
            (*t)->clear(v);
            CHECK((*t)->from_json(v, (const char *)b.data, b.len, NULL) == 0);
        }
        (*t)->clear(v);
        free(v);
        brook_buf_free(&b);
    }
    CHECK(n == 13);
    /* canonical form of any form of a schema (what writer schemas are fingerprinted by) */
    for (const brook_type_t *const *t = all_types_types; *t; t++) {
        brook_buf_t b;
        brook_buf_init(&b);
        CHECK(brook_avro_canonical_form((*t)->resolution_json, &b, NULL) == 0);
        CHECK(b.len == strlen((*t)->schema_json) && !memcmp(b.data, (*t)->schema_json, b.len));
        uint64_t fp = 0;
        CHECK(brook_avro_schema_fingerprint((*t)->resolution_json, &fp, NULL) == 0);
        CHECK(fp == (*t)->fingerprint);
        brook_buf_free(&b);
    }
    {
        const char *in =
            "{ \"type\" : \"record\", \"namespace\": \"a\", \"name\": \"R\", "
            "\"doc\": \"x\", \"fields\": [ {\"name\": \"e\", \"type\": {\"type\": "
            "\"enum\", \"name\": \"E\", \"namespace\": \"\", \"symbols\": [\"A\"]}}, "
            "{\"name\": \"f\", \"type\": {\"type\": \"fixed\", \"name\": \"F\", "
            "\"size\": 4}, \"default\": \"abcd\"}, {\"name\": \"g\", \"type\": [\"null\", "
            "\"F\", {\"type\": \"long\", \"logicalType\": \"timestamp-millis\"}]}, "
            "{\"name\": \"h\", \"type\": {\"type\": \"map\", \"values\": \"E\"}}]}";
        const char *want =
            "{\"name\":\"a.R\",\"type\":\"record\",\"fields\":[{\"name\":\"e\","
            "\"type\":{\"name\":\"E\",\"type\":\"enum\",\"symbols\":[\"A\"]}},"
            "{\"name\":\"f\",\"type\":{\"name\":\"a.F\",\"type\":\"fixed\",\"size\":4}},"
            "{\"name\":\"g\",\"type\":[\"null\",\"a.F\",\"long\"]},{\"name\":\"h\","
            "\"type\":{\"type\":\"map\",\"values\":\"E\"}}]}";
        brook_buf_t b;
        brook_buf_init(&b);
        CHECK(brook_avro_canonical_form(in, &b, NULL) == 0);
        CHECK(b.len == strlen(want) && !memcmp(b.data, want, b.len));
        if (b.len != strlen(want) || memcmp(b.data, want, b.len))
            fprintf(stderr, "got  %.*s\nwant %s\n", (int)b.len, (const char *)b.data, want);
        brook_error_t err;
        CHECK(brook_avro_canonical_form("{\"type\": 5}", &b, &err) == BROOK_ERR_SCHEMA);
        CHECK(brook_avro_canonical_form("[", &b, &err) == BROOK_ERR_SCHEMA);
        brook_buf_free(&b);
    }
    CHECK(!strcmp(shop_Money_type.schema_json,
                  "{\"name\":\"shop.Money\",\"type\":\"record\",\"fields\":[{\"name\":\"currency\","
                  "\"type\":{\"name\":\"shop.Currency\",\"type\":\"enum\",\"symbols\":[\"EUR\","
                  "\"USD\",\"GBP\"]}},{\"name\":\"units\",\"type\":\"long\"},{\"name\":\"nanos\","
                  "\"type\":\"int\"}]}"));
}

static void test_framing(void) {
    brook_buf_t b;
    brook_buf_init(&b);
    CHECK(brook_avro_write_single_object_header(&b, 0x0102030405060708ULL) == 0);
    CHECK(b.len == 10 && b.data[0] == 0xC3 && b.data[1] == 0x01 && b.data[2] == 0x08);
    brook_avro_frame_t f;
    brook_error_t err;
    CHECK(brook_avro_parse_frame(b.data, b.len, &f, &err) == 0);
    CHECK(f.framing == BROOK_AVRO_FRAMING_SINGLE_OBJECT && f.fingerprint == 0x0102030405060708ULL);
    CHECK(f.payload_len == 0);
    brook_buf_reset(&b);
    CHECK(brook_avro_write_confluent_header(&b, 0x01020304) == 0);
    CHECK(b.len == 5 && b.data[0] == 0 && b.data[1] == 1 && b.data[4] == 4);
    CHECK(brook_avro_parse_frame(b.data, b.len, &f, &err) == 0);
    CHECK(f.framing == BROOK_AVRO_FRAMING_CONFLUENT && f.schema_id == 0x01020304);
    CHECK(brook_avro_parse_frame(b.data, 4, &f, &err) == BROOK_ERR_DECODE);
    CHECK(brook_avro_parse_frame("\x7f", 1, &f, &err) == BROOK_ERR_DECODE);
    CHECK(brook_avro_parse_frame("\xC3\x01", 2, &f, &err) == BROOK_ERR_DECODE);
    CHECK(brook_avro_parse_frame(NULL, 0, &f, &err) == BROOK_ERR_DECODE);
    /* the spec's CRC-64-AVRO of the empty input is its seed */
    CHECK(brook_avro_crc64("", 0) == 0xc15d213aa4d7a795ULL);
    brook_buf_free(&b);
}

static void test_logical(void) {
    int y;
    unsigned m, d;
    CHECK(brook_avro_date_from_ymd(1970, 1, 1) == 0);
    CHECK(brook_avro_date_from_ymd(2000, 3, 1) == 11017);
    brook_avro_date_to_ymd(-1, &y, &m, &d);
    CHECK(y == 1969 && m == 12 && d == 31);
    uint8_t buf[8];
    int64_t x;
    for (int64_t k = -70000; k < 70000; k += 77) {
        size_t n = brook_avro_decimal_from_int64(k, buf);
        CHECK(brook_avro_decimal_to_int64(buf, n, &x) == 0 && x == k);
    }
    size_t n = brook_avro_decimal_from_int64(INT64_MIN, buf);
    CHECK(n == 8 && brook_avro_decimal_to_int64(buf, n, &x) == 0 && x == INT64_MIN);
    CHECK(brook_avro_uuid_valid("123e4567-e89b-12d3-a456-426614174000"));
    CHECK(!brook_avro_uuid_valid("123e4567-e89b-12d3-a456-42661417400"));
}

int main(void) {
    test_defaults();
    test_values();
    test_decode_again();
    test_recursive();
    test_descriptors();
    test_framing();
    test_logical();
    return checks_done("roundtrip");
}
