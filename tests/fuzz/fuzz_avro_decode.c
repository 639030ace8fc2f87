/* libFuzzer target for Brook's Avro decoders: generated T_decode and T_from_json of the
 * alltypes schemas (tests/codegen/valid/alltypes), single-object/Confluent frame parsing, and
 * schema resolution (framework/src/serde/avro_resolve.c) from a fixed older writer schema
 * (fuzz_avro_resolve takes the writer schema from the input). Whatever the input, nothing may
 * crash, read out of bounds or leak; a value that decodes re-encodes, decodes again (into a new
 * value and over the decoded one) and encodes to the same bytes; its JSON reads back
 * (to_json/from_json agree).
 *
 * The first byte picks the case, the rest is the input. Built by tests/fuzz/CMakeLists.txt
 * (clang -fsanitize=fuzzer,address,undefined); -DBROOK_FUZZ_STANDALONE gives a main() that
 * runs files given as arguments plus random inputs (test_codegen_fuzz_standalone, gcc).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serde/avro_resolve.h"
#include "fuzz.brook.h"

static const char writer_v1[] =
    "{\"type\":\"record\",\"name\":\"shop.Money\",\"fields\":["
    "{\"name\":\"units\",\"type\":\"int\"},{\"name\":\"extra\",\"type\":{\"type\":\"map\","
    "\"values\":[\"null\",\"string\",{\"type\":\"array\",\"items\":\"double\"}]}},"
    "{\"name\":\"currency\",\"type\":{\"type\":\"enum\",\"name\":\"Currency\","
    "\"symbols\":[\"GBP\",\"CHF\"]}}]}";

/* Encoding is deterministic: a value decoded from what was encoded encodes to the same bytes
 * (NaN payloads, duplicate map keys and block layouts are normalised by the first encode). */
static void encode_or_die(const brook_type_t *t, const void *v, brook_buf_t *b) {
    brook_buf_reset(b);
    if (t->encode(v, b) != 0)
        abort(); /* a value that decoded encodes */
}

/* to_json and from_json are inverses on what to_json writes: JSON -> value -> JSON is a fixed
 * point from the second round on (the first may drop what JSON cannot carry: a string's bytes
 * after a NUL, a repeated map key). */
static void json_round_trip(const brook_type_t *t, const void *v) {
    brook_buf_t j1, j2;
    brook_buf_init(&j1);
    brook_buf_init(&j2);
    brook_error_t err;
    if (t->to_json(v, &j1) != 0)
        abort();
    void *x = calloc(1, t->size);
    if (t->from_json(x, (const char *)j1.data, j1.len, &err) == 0) {
        if (t->to_json(x, &j2) != 0)
            abort();
        void *y = calloc(1, t->size);
        brook_buf_reset(&j1);
        if (t->from_json(y, (const char *)j2.data, j2.len, &err) != 0 || t->to_json(y, &j1) != 0)
            abort(); /* what from_json read back, to_json writes readably */
        if (j1.len != j2.len || memcmp(j1.data, j2.data, j1.len) != 0)
            abort(); /* and the same way */
        t->clear(y);
        free(y);
    }
    t->clear(x);
    free(x);
    brook_buf_free(&j1);
    brook_buf_free(&j2);
}

static void decode_one(const brook_type_t *t, const uint8_t *data, size_t size) {
    void *v = calloc(1, t->size); /* zero: decode frees what a value owns */
    brook_error_t err = {0};
    if (t->decode(v, data, size, &err) == 0) {
        brook_buf_t b, b2;
        brook_buf_init(&b);
        brook_buf_init(&b2);
        encode_or_die(t, v, &b);
        void *w = calloc(1, t->size);
        if (t->decode(w, b.data, b.len, &err) != 0)
            abort(); /* what we encode we must decode */
        encode_or_die(t, w, &b2);
        if (b.len != b2.len || memcmp(b.data, b2.data, b.len) != 0)
            abort();
        /* decoded again over itself, in the memory it has */
        if (t->decode(w, b.data, b.len, &err) != 0)
            abort();
        encode_or_die(t, w, &b2);
        if (b.len != b2.len || memcmp(b.data, b2.data, b.len) != 0)
            abort();
        t->clear(w);
        free(w);
        brook_buf_free(&b);
        brook_buf_free(&b2);
        json_round_trip(t, v);
    } else if (err.code == 0 || !err.message[0]) {
        abort(); /* a failure says why */
    }
    t->clear(v);
    free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static brook__avro_resolver_t *resolver;
    if (!resolver) {
        brook_error_t err;
        resolver = brook__avro_resolver_new(writer_v1, shop_Money_type.resolution_json, &err);
        if (!resolver)
            abort();
    }
    uint8_t sel = size ? data[0] : 0;
    const uint8_t *p = size ? data + 1 : data;
    size_t n = size ? size - 1 : 0;
    switch (sel % 6) {
    case 0:
        decode_one(&test_All_type, p, n);
        break;
    case 1:
        decode_one(&test_Node_type, p, n);
        break;
    case 2:
        decode_one(&test_A_type, p, n);
        break;
    case 3: {
        brook_avro_frame_t f;
        brook_error_t err;
        if (brook_avro_parse_frame(p, n, &f, &err) == 0)
            decode_one(&shop_Money_type, f.payload, f.payload_len);
        break;
    }
    case 4: {
        brook_buf_t out;
        brook_buf_init(&out);
        brook_error_t err;
        if (brook__avro_resolver_convert(resolver, p, n, &out, &err) == 0) {
            shop_Money m = {0};
            if (shop_Money_decode(&m, out.data, out.len, &err) != 0)
                abort(); /* the resolver must produce what the reader decodes */
            shop_Money_clear(&m);
        }
        brook_buf_free(&out);
        break;
    }
    default: {
        const brook_type_t *t = sel & 8 ? &test_All_type : &test_Node_type;
        void *v = calloc(1, t->size);
        brook_error_t err;
        if (t->from_json(v, (const char *)p, n, &err) == 0) {
            /* what from_json accepts is a valid value: it encodes, and decodes back */
            brook_buf_t b;
            brook_buf_init(&b);
            encode_or_die(t, v, &b);
            void *w = calloc(1, t->size);
            if (t->decode(w, b.data, b.len, &err) != 0)
                abort();
            t->clear(w);
            free(w);
            brook_buf_free(&b);
            json_round_trip(t, v);
        }
        t->clear(v);
        free(v);
        break;
    }
    }
    return 0;
}

#ifdef BROOK_FUZZ_STANDALONE
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f)
            continue;
        uint8_t buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
    }
    /* random inputs, and valid encodings with random damage */
    uint32_t s = 2463534242u;
    uint8_t buf[512];
    for (int it = 0; it < 200000; it++) {
        size_t n = 1 + (s % sizeof buf);
        for (size_t k = 0; k < n; k++) {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            buf[k] = (uint8_t)(k % 3 ? s : s & 0x0f);
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
    printf("fuzz (standalone): done\n");
    return 0;
}
#endif
