/* Schema evolution's slow path: resolving data written with an older schema to the reader's
 * schema by Avro's resolution rules, re-encoded so the generated decoder of the reader type
 * can read it. The reader schema should carry defaults (brook_type_t.resolution_json). */
#ifndef BROOK_AVRO_RESOLVE_H
#define BROOK_AVRO_RESOLVE_H

#include "brook/brook.h"

typedef struct brook__avro_resolver_s brook__avro_resolver_t;

/* NULL with err set ("incompatible writer schema ...") when the schemas do not resolve.
 * A resolver is immutable once made: convert may run on several threads at once. */
brook__avro_resolver_t *brook__avro_resolver_new(const char *writer_schema_json,
                                                 const char *reader_schema_json,
                                                 brook_error_t *err);
/* Decodes writer-schema binary `data` and appends it re-encoded in the reader schema. */
int brook__avro_resolver_convert(brook__avro_resolver_t *r, const void *data, size_t len,
                                 brook_buf_t *reader_binary_out, brook_error_t *err);
void brook__avro_resolver_destroy(brook__avro_resolver_t *r);

#endif
