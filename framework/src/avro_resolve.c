/* Schema resolution through avro-c (the slow path; the generated decoders are the fast one). */
#include <stdlib.h>
#include <string.h>

#include <avro.h>

#include "avro_resolve.h"

struct brook__avro_resolver_s {
    avro_schema_t writer, reader;
    avro_value_iface_t *reader_iface;   /* generic values of the reader schema */
    avro_value_iface_t *resolved_iface; /* reads writer data into a reader value */
    avro_value_t reader_value, resolved_value;
};

void brook__avro_resolver_destroy(brook__avro_resolver_t *r) {
    if (!r)
        return;
    if (r->resolved_iface) {
        avro_value_decref(&r->resolved_value);
        avro_value_iface_decref(r->resolved_iface);
    }
    if (r->reader_iface) {
        avro_value_decref(&r->reader_value);
        avro_value_iface_decref(r->reader_iface);
    }
    if (r->writer)
        avro_schema_decref(r->writer);
    if (r->reader)
        avro_schema_decref(r->reader);
    free(r);
}

brook__avro_resolver_t *brook__avro_resolver_new(const char *writer_schema_json,
                                                 const char *reader_schema_json,
                                                 brook_error_t *err) {
    brook__avro_resolver_t *r = calloc(1, sizeof(*r));
    if (!r) {
        brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (avro_schema_from_json_length(writer_schema_json, strlen(writer_schema_json), &r->writer) ||
        avro_schema_from_json_length(reader_schema_json, strlen(reader_schema_json), &r->reader)) {
        brook_error_set(err, BROOK_ERR_SCHEMA, "invalid schema: %s", avro_strerror());
        goto fail;
    }
    r->reader_iface = avro_generic_class_from_schema(r->reader);
    if (!r->reader_iface || avro_generic_value_new(r->reader_iface, &r->reader_value)) {
        if (r->reader_iface)
            avro_value_iface_decref(r->reader_iface);
        r->reader_iface = NULL;
        brook_error_set(err, BROOK_ERR_SCHEMA, "reader schema: %s", avro_strerror());
        goto fail;
    }
    r->resolved_iface = avro_resolved_writer_new(r->writer, r->reader);
    if (!r->resolved_iface ||
        avro_resolved_writer_new_value(r->resolved_iface, &r->resolved_value)) {
        if (r->resolved_iface)
            avro_value_iface_decref(r->resolved_iface);
        r->resolved_iface = NULL;
        brook_error_set(err, BROOK_ERR_SCHEMA, "incompatible writer schema: %s", avro_strerror());
        goto fail;
    }
    avro_resolved_writer_set_dest(&r->resolved_value, &r->reader_value);
    return r;
fail:
    brook__avro_resolver_destroy(r);
    return NULL;
}

int brook__avro_resolver_convert(brook__avro_resolver_t *r, const void *data, size_t len,
                                 brook_buf_t *out, brook_error_t *err) {
    avro_value_reset(&r->reader_value);
    avro_reader_t in = avro_reader_memory(data, (int64_t)len);
    int rc = avro_value_read(in, &r->resolved_value);
    avro_reader_free(in);
    if (rc)
        return brook_error_set(err, BROOK_ERR_DECODE, "cannot decode with writer schema: %s",
                               avro_strerror());
    size_t size = 0;
    if (avro_value_sizeof(&r->reader_value, &size) || brook_buf_reserve(out, size))
        return brook_error_set(err, BROOK_ERR_DECODE, "cannot re-encode: %s", avro_strerror());
    avro_writer_t w = avro_writer_memory((char *)out->data + out->len, (int64_t)size);
    rc = avro_value_write(w, &r->reader_value);
    avro_writer_free(w);
    if (rc)
        return brook_error_set(err, BROOK_ERR_DECODE, "cannot re-encode: %s", avro_strerror());
    out->len += size;
    return 0;
}
