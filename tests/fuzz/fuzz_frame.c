/* libFuzzer target for a record's value as a listener decodes it: brook_avro_parse_frame
 * (single-object C3 01 + fingerprint, Confluent 00 + schema id) and brook__serde_decode
 * (framing, the writer schema by fingerprint or schema id, the resolver for an older writer
 * schema, the generated decoder), and the string and json serdes.
 *
 *   byte 0   what reads the rest: 0-3 an Avro serde of shop.Money, test.All, test.Node, test.A
 *            (the alltypes decoders; shop.Money also knows an older writer schema, and
 *            Confluent id 7 as its own; other ids are refused: no schema registry),
 *            4 the string serde, 5 the json serde
 *   then     the record's value
 *
 * Properties: nothing crashes, reads out of bounds or leaks; a frame that parses is exactly
 * its header (written back by brook_avro_write_*_header) and its payload; a value that
 * decodes re-encodes, framed as a template frames it, and decodes again to the same bytes; a
 * failure says why, as BROOK_ERR_DECODE or BROOK_ERR_SCHEMA (the registry-less serde has
 * nothing to wait for).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brook/avro.h"
#include "serde/serde.h"
#include "fuzz.brook.h"

/* An older shop.Money: what a producer built from an earlier schema writes. */
static const char money_v1[] =
    "{\"type\":\"record\",\"name\":\"shop.Money\",\"fields\":["
    "{\"name\":\"units\",\"type\":\"int\"},{\"name\":\"extra\",\"type\":{\"type\":\"map\","
    "\"values\":[\"null\",\"string\",{\"type\":\"array\",\"items\":\"double\"}]}},"
    "{\"name\":\"currency\",\"type\":{\"type\":\"enum\",\"name\":\"Currency\","
    "\"symbols\":[\"GBP\",\"CHF\"]}}]}";

/* brook_err2str is kafka/'s (librdkafka's codes pass through it), which this target does not
 * link: serde.c only puts its text in messages. */
const char *brook_err2str(int err) {
    return err ? "an error" : "no error";
}

static brook__types_t *types;

static void init(void) {
    types = brook__types_new();
    brook_error_t err;
    const brook_type_t *all[] = {&shop_Money_type, &test_All_type, &test_Node_type, &test_A_type};
    for (size_t i = 0; i < 4; i++)
        if (brook__types_add(types, all[i]))
            abort();
    if (brook__types_add_writer(types, "shop.Money", money_v1, &err) ||
        brook__types_add_schema_id(types, "shop.Money", 7))
        abort();
}

static void check_frame(const uint8_t *data, size_t size) {
    brook_avro_frame_t f;
    brook_error_t err;
    if (brook_avro_parse_frame(data, size, &f, &err) != 0) {
        if (err.code != BROOK_ERR_DECODE || !err.message[0])
            abort();
        return;
    }
    brook_buf_t h;
    brook_buf_init(&h);
    if (f.framing == BROOK_AVRO_FRAMING_SINGLE_OBJECT)
        brook_avro_write_single_object_header(&h, f.fingerprint);
    else if (f.framing == BROOK_AVRO_FRAMING_CONFLUENT)
        brook_avro_write_confluent_header(&h, f.schema_id);
    else
        abort();
    if (h.len + f.payload_len != size || memcmp(h.data, data, h.len) != 0 ||
        f.payload != data + h.len)
        abort();
    brook_buf_free(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!types)
        init();
    if (size < 1)
        return 0;
    const uint8_t *value = data + 1;
    size_t len = size - 1;
    check_frame(value, len);

    static const brook_type_t *const readers[] = {&shop_Money_type, &test_All_type, &test_Node_type,
                                                  &test_A_type};
    brook__serde_t s = {.types = types, .framing = BROOK_AVRO_FRAMING_SINGLE_OBJECT};
    unsigned sel = data[0] % 6;
    if (sel < 4) {
        s.kind = BROOK_SERDE_AVRO;
        s.type = readers[sel];
    } else {
        s.kind = sel == 4 ? BROOK_SERDE_STRING : BROOK_SERDE_JSON;
    }
    /* A copy the exact size of the value: a read past its end is caught. */
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, value, len);

    brook__decoded_t dec = {0};
    const void *out = NULL;
    brook_error_t err = {0};
    int rc = brook__serde_decode(&s, copy, len, &dec, &out, &err);
    if (rc) {
        if ((rc != BROOK_ERR_DECODE && rc != BROOK_ERR_SCHEMA) || err.code != rc ||
            !err.message[0]) {
            fprintf(stderr, "unexpected failure %d: %s\n", rc, err.message);
            abort();
        }
    } else if (!out) {
        abort(); /* non-NULL data decodes to a value */
    } else if (s.kind == BROOK_SERDE_AVRO) {
        /* as a template sends it, and as a listener reads that */
        brook_buf_t b, b2;
        brook_buf_init(&b);
        brook_buf_init(&b2);
        const void *d, *d2;
        size_t n, n2;
        if (brook__serde_encode(&s, out, &b, &d, &n, &err) || !d)
            abort();
        brook__decoded_t dec2 = {0};
        const void *out2 = NULL;
        if (brook__serde_decode(&s, d, n, &dec2, &out2, &err) != 0) {
            fprintf(stderr, "own encoding does not decode: %s\n", err.message);
            abort();
        }
        if (brook__serde_encode(&s, out2, &b2, &d2, &n2, &err) || n != n2 || memcmp(d, d2, n) != 0)
            abort();
        brook__decoded_free(&s, &dec2);
        brook_buf_free(&b);
        brook_buf_free(&b2);
    } else if (s.kind == BROOK_SERDE_STRING &&
               (strlen(out) != len || memcmp(out, value, len) != 0)) {
        abort(); /* a string is the value's bytes, NUL-terminated */
    }
    brook__decoded_free(&s, &dec);
    free(copy);
    return 0;
}
