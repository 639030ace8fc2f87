/*
 * Serdes: how keys and values become bytes and back (string, bytes, json, framed Avro), and
 * the registry of the app's Avro types and the writer schemas its listeners accept, which
 * asks the schema registry (registry/) for the writer schema of a Confluent id it does not
 * know.
 */
#ifndef BROOK_SERDE_H
#define BROOK_SERDE_H

#include <stdbool.h>
#include <stdint.h>

#include "brook/brook.h"
#include "config/decl.h"
#include "registry/registry.h"

/* ---- the type registry ------------------------------------------------------------------- */

typedef struct brook__types_s brook__types_t;

brook__types_t *brook__types_new(void);
void brook__types_free(brook__types_t *t);
/* Adds a generated type (borrowed). The same descriptor again is a no-op; another descriptor
 * of a known name is recorded as a writer schema of it. BROOK_ERR_SCHEMA for a descriptor
 * without BROOK_TYPE_MAGIC. */
int brook__types_add(brook__types_t *t, const brook_type_t *type);
/* Records an older schema of `type_name` (copied) that records may be written with. */
int brook__types_add_writer(brook__types_t *t, const char *type_name, const char *schema_json,
                            brook_error_t *err);
/* Records that Confluent schema id `id` names `type_name`'s schema (a template's declared
 * schema_id). */
int brook__types_add_schema_id(brook__types_t *t, const char *type_name, int32_t id);
/* The schema registry that Confluent ids not known here are looked up in (borrowed). */
void brook__types_set_registry(brook__types_t *t, brook__registry_t *registry);
const brook_type_t *brook__types_find(const brook__types_t *t, const char *name);

/* ---- serdes ------------------------------------------------------------------------------ */

/* How one key or value is (de)serialized; resolved from a brook_decl_serde_t at start. */
typedef struct {
    brook_serde_kind_t kind;
    const brook_type_t *type;    /* avro only */
    int framing;                 /* avro only, for sending: BROOK_AVRO_FRAMING_* */
    int32_t schema_id;           /* confluent framing */
    const brook__types_t *types; /* for writer schemas and schema ids */
} brook__serde_t;

/* Per-thread scratch space a deserializer decodes into; reused record after record so the
 * handle path allocates only what a decoded value itself needs. */
typedef struct {
    brook_buf_t text;     /* string/json: NUL-terminated copy */
    brook_buf_t resolved; /* avro: writer data resolved to the reader schema */
    brook_bytes_t bytes;
    void *value; /* avro: decoded value (type->size bytes) */
    bool value_live;
    struct resolver_entry_s *resolvers; /* writer schemas seen by this thread */
    struct id_entry_s *ids;             /* Confluent ids seen by this thread */
} brook__decoded_t;

/* `source` names the declaration in the error when an Avro type is not registered. */
int brook__serde_resolve(brook__serde_t *s, const brook__types_t *types,
                         const brook_decl_serde_t *d, const char *source, int framing,
                         int32_t schema_id, brook_error_t *err);
/* The bytes `v` (see brook.h serdes) is sent as, in *data and *len: a string, JSON text or
 * bytes as they are (not copied), an Avro value encoded into scratch (emptied first). NULL v
 * gives NULL; an empty non-null value a non-NULL pointer. */
int brook__serde_encode(const brook__serde_t *s, const void *v, brook_buf_t *scratch,
                        const void **data, size_t *len, brook_error_t *err);
/* Decodes raw bytes into dec; *out is what the handler receives. NULL data gives NULL.
 * BROOK_ERR_UNAVAILABLE when the writer schema is in a schema registry that cannot be reached
 * now: the record is worth decoding again later. */
int brook__serde_decode(const brook__serde_t *s, const void *data, size_t len,
                        brook__decoded_t *dec, const void **out, brook_error_t *err);
void brook__decoded_clear(const brook__serde_t *s, brook__decoded_t *dec);
void brook__decoded_free(const brook__serde_t *s, brook__decoded_t *dec);

#endif
