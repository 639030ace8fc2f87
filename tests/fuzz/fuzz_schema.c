/* libFuzzer target for the runtime's readers of Avro schema JSON, which a schema registry or a
 * declared writer schema feeds: brook_avro_canonical_form / brook_avro_schema_fingerprint
 * (serde/avro.c) and brook__avro_resolver_new (serde/avro_resolve.c).
 *
 *   input    a writer schema's JSON, optionally a NUL byte and a reader schema's JSON
 *
 * Properties: nothing crashes, reads out of bounds or leaks; a schema is refused with
 * BROOK_ERR_SCHEMA and a message (never "out of memory"); a canonical form is valid JSON and
 * a schema the canonical form reads again, the same from the second round on (the first may
 * qualify the name of a nested type of the null namespace), and does not depend on how the
 * JSON is laid out; the fingerprint is the CRC-64-AVRO of the canonical form; a schema the
 * resolver reads resolves to itself; a failed resolver says why.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brook/avro.h"
#include "serde/avro_resolve.h"

/* The canonical form of `json` into out (reset first); 0 or BROOK_ERR_SCHEMA with a message. */
static int pcf(const char *json, brook_buf_t *out) {
    brook_error_t err = {0};
    brook_buf_reset(out);
    int rc = brook_avro_canonical_form(json, out, &err);
    if (rc != 0 && (rc != BROOK_ERR_SCHEMA || !err.message[0])) {
        fprintf(stderr, "canonical form failed with %d: %s\n", rc, err.message);
        abort();
    }
    if (rc != 0 && out->len != 0)
        abort(); /* a failure appends nothing */
    return rc;
}

static char *text_of(const brook_buf_t *b) {
    char *s = malloc(b->len + 1);
    memcpy(s, b->data, b->len);
    s[b->len] = 0;
    return s;
}

static bool same(const brook_buf_t *a, const brook_buf_t *b) {
    return a->len == b->len && (!a->len || memcmp(a->data, b->data, a->len) == 0);
}

static void check_schema(const char *json) {
    brook_buf_t p1, p2, p3;
    brook_buf_init(&p1);
    brook_buf_init(&p2);
    brook_buf_init(&p3);
    if (pcf(json, &p1) == 0) {
        uint64_t fp;
        brook_error_t err;
        if (brook_avro_schema_fingerprint(json, &fp, &err) != 0 ||
            fp != brook_avro_crc64(p1.data, p1.len))
            abort();
        char *t1 = text_of(&p1);
        json_error_t jerr;
        json_t *j = json_loads(t1, JSON_DECODE_ANY, &jerr);
        if (!j) {
            fprintf(stderr, "canonical form is not JSON: %s: %s\n", jerr.text, t1);
            abort();
        }
        json_decref(j);
        if (pcf(t1, &p2) != 0) {
            fprintf(stderr, "canonical form not readable: %s\n", t1);
            abort();
        }
        char *t2 = text_of(&p2);
        if (pcf(t2, &p3) != 0 || !same(&p2, &p3)) {
            fprintf(stderr, "canonical form not stable: %s\n", t2);
            abort();
        }
        free(t2);
        free(t1);
        /* the same JSON laid out otherwise */
        json_t *doc = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (!doc)
            abort(); /* it parsed above */
        char *pretty = json_dumps(doc, JSON_ENCODE_ANY | JSON_INDENT(3));
        json_decref(doc);
        if (pretty && (pcf(pretty, &p2) != 0 || !same(&p1, &p2))) {
            fprintf(stderr, "canonical form depends on the layout: %s\n", pretty);
            abort();
        }
        free(pretty);
    }
    brook_buf_free(&p1);
    brook_buf_free(&p2);
    brook_buf_free(&p3);
}

static brook__avro_resolver_t *resolver(const char *w, const char *r) {
    brook_error_t err = {0};
    brook__avro_resolver_t *res = brook__avro_resolver_new(w, r, &err);
    if (!res && (err.code == 0 || err.code == BROOK_ERR_NOMEM || !err.message[0])) {
        fprintf(stderr, "resolver failed with %d: %s\n", err.code, err.message);
        abort();
    }
    return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *writer = malloc(size + 1);
    memcpy(writer, data, size);
    writer[size] = 0;
    size_t wlen = strlen(writer);
    const char *reader = wlen < size ? writer + wlen + 1 : NULL;

    check_schema(writer);
    brook__avro_resolver_t *self = resolver(writer, writer);
    bool writer_ok = self != NULL;
    brook__avro_resolver_destroy(self);
    if (reader) {
        check_schema(reader);
        brook__avro_resolver_t *rself = resolver(reader, reader);
        brook__avro_resolver_t *r = resolver(writer, reader);
        if (r && (!writer_ok || !rself))
            abort(); /* schemas that resolve to each other are schemas */
        brook__avro_resolver_destroy(r);
        brook__avro_resolver_destroy(rself);
    }
    free(writer);
    return 0;
}
