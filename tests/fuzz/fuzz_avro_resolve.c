/* libFuzzer target for schema resolution (framework/src/serde/avro_resolve.c) with the writer
 * schema taken from the input, as a schema registry or a declared writer schema gives it:
 *
 *   byte 0       the reader: 0-3 the generated alltypes types (shop.Money, test.All, test.Node,
 *                test.A, their resolution_json), 4 a hand-written reader with aliases, enum
 *                and field defaults of every kind
 *   then         the writer schema's JSON, up to a NUL byte
 *   then         the writer's binary datum
 *
 * Properties: nothing crashes, reads out of bounds or leaks; a failed brook__avro_resolver_new
 * or convert says why; what convert writes is valid binary of the reader schema: the reader's
 * identity resolver reads all of it and writes it back byte for byte (its output is normal:
 * minimal varints, positive block counts), and for a generated reader its decoder reads it.
 * The writer schema resolved to itself does the same for the writer's datum.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serde/avro_resolve.h"
#include "fuzz.brook.h"

static const char handwritten_reader[] =
    "{\"type\":\"record\",\"name\":\"fz.R\",\"aliases\":[\"fz.Old\"],\"fields\":["
    "{\"name\":\"id\",\"type\":\"long\",\"aliases\":[\"ident\",\"key\"]},"
    "{\"name\":\"name\",\"type\":\"string\",\"default\":\"x\",\"aliases\":[\"label\"]},"
    "{\"name\":\"kind\",\"type\":{\"type\":\"enum\",\"name\":\"Kind\",\"symbols\":[\"A\",\"B\","
    "\"C\"],\"default\":\"A\"},\"default\":\"B\"},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"},\"default\":[\"t\"]},"
    "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":[\"null\",\"double\",\"Kind\"]},"
    "\"default\":{\"a\":null}},"
    "{\"name\":\"next\",\"type\":[\"null\",\"fz.R\"],\"default\":null},"
    "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"F4\",\"size\":4},\"default\":"
    "\"ab\\u00ffd\"},"
    "{\"name\":\"amount\",\"type\":[\"int\",\"string\"],\"default\":3},"
    "{\"name\":\"f\",\"type\":\"float\",\"default\":1.5},"
    "{\"name\":\"d\",\"type\":\"double\",\"default\":-2},"
    "{\"name\":\"by\",\"type\":\"bytes\",\"default\":\"\\u00ff\\u0000\"},"
    "{\"name\":\"b\",\"type\":\"boolean\",\"default\":true},"
    "{\"name\":\"items\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
    "\"name\":\"Item\",\"fields\":[{\"name\":\"q\",\"type\":\"int\",\"default\":1},"
    "{\"name\":\"note\",\"type\":\"string\",\"default\":\"n\"}]}},\"default\":[]},"
    "{\"name\":\"inner\",\"type\":\"Item\",\"default\":{\"q\":2}}]}";

typedef struct {
    const char *schema;
    const brook_type_t *type; /* the generated decoder, or NULL */
    brook__avro_resolver_t *identity;
} reader_t;

static reader_t readers[5];

static void init(void) {
    const brook_type_t *types[4] = {&shop_Money_type, &test_All_type, &test_Node_type,
                                    &test_A_type};
    for (int i = 0; i < 5; i++) {
        readers[i].type = i < 4 ? types[i] : NULL;
        readers[i].schema = i < 4 ? types[i]->resolution_json : handwritten_reader;
        brook_error_t err;
        readers[i].identity = brook__avro_resolver_new(readers[i].schema, readers[i].schema, &err);
        if (!readers[i].identity) {
            fprintf(stderr, "reader %d does not resolve to itself: %s\n", i, err.message);
            abort();
        }
    }
}

static void failed_says_why(int rc, const brook_error_t *err) {
    if (rc == 0 || err->code != rc || !err->message[0])
        abort();
}

/* `bin` is valid for the schema of `identity`: read whole and written back unchanged. */
static void check_normal(brook__avro_resolver_t *identity, const brook_buf_t *bin) {
    brook_buf_t again;
    brook_buf_init(&again);
    brook_error_t err;
    int rc = brook__avro_resolver_convert(identity, bin->data, bin->len, &again, &err);
    if (rc != 0) {
        fprintf(stderr, "resolver output not readable as its schema: %s\n", err.message);
        abort();
    }
    if (again.len != bin->len || (bin->len && memcmp(again.data, bin->data, bin->len) != 0)) {
        fprintf(stderr, "resolver output not normal (%zu bytes, again %zu)\n", bin->len, again.len);
        abort();
    }
    brook_buf_free(&again);
}

static void convert_and_check(brook__avro_resolver_t *r, brook__avro_resolver_t *identity,
                              const brook_type_t *type, const uint8_t *data, size_t n) {
    brook_buf_t out;
    brook_buf_init(&out);
    brook_error_t err;
    int rc = brook__avro_resolver_convert(r, data, n, &out, &err);
    if (rc == 0) {
        check_normal(identity, &out);
        if (type) {
            void *v = calloc(1, type->size);
            if (type->decode(v, out.data, out.len, &err) != 0) {
                fprintf(stderr, "generated %s decoder rejects the resolver's output: %s\n",
                        type->name, err.message);
                abort();
            }
            type->clear(v);
            free(v);
        }
    } else {
        failed_says_why(rc, &err);
        if (out.len != 0)
            abort(); /* a failed convert appends nothing */
    }
    brook_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!readers[0].identity)
        init();
    if (size < 1)
        return 0;
    reader_t *reader = &readers[data[0] % 5];
    const uint8_t *nul = memchr(data + 1, 0, size - 1);
    size_t schema_len = nul ? (size_t)(nul - (data + 1)) : size - 1;
    char *writer = malloc(schema_len + 1);
    memcpy(writer, data + 1, schema_len);
    writer[schema_len] = 0;
    const uint8_t *datum = nul ? nul + 1 : data + size;
    size_t datum_len = (size_t)(data + size - datum);

    brook_error_t err;
    brook__avro_resolver_t *self = brook__avro_resolver_new(writer, writer, &err);
    brook__avro_resolver_t *r = brook__avro_resolver_new(writer, reader->schema, &err);
    if (!r)
        failed_says_why(err.code ? err.code : -1, &err);
    if (self) {
        /* a schema that parses resolves to itself; its output is normal */
        convert_and_check(self, self, NULL, datum, datum_len);
    }
    if (r) {
        if (!self)
            abort(); /* a writer schema a reader accepts is a schema */
        convert_and_check(r, reader->identity, reader->type, datum, datum_len);
    }
    brook__avro_resolver_destroy(r);
    brook__avro_resolver_destroy(self);
    free(writer);
    return 0;
}
