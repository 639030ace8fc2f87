/* Serdes: string, bytes, json and Avro (framed) keys and values. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "brook/avro.h"
#include "serde/avro_resolve.h"
#include "serde/serde.h"
#include "serde/types.h"

int brook__serde_resolve(brook__serde_t *s, const brook__types_t *types,
                         const brook_decl_serde_t *d, const char *source, int framing,
                         int32_t schema_id, brook_error_t *err) {
    memset(s, 0, sizeof(*s));
    s->kind = d->kind;
    s->framing = framing;
    s->schema_id = schema_id;
    s->types = types;
    if (d->kind == BROOK_SERDE_AVRO) {
        s->type = brook__types_find(types, d->type_name);
        if (!s->type)
            return brook_error_set(err, BROOK_ERR_NOT_FOUND,
                                   "%s:%d: Avro type %s is not registered (generated code "
                                   "registers its types; was the service built with brookc?)",
                                   source, d->line, d->type_name);
    }
    return 0;
}

int brook__serde_encode(const brook__serde_t *s, const void *v, brook_buf_t *scratch,
                        const void **data, size_t *len, brook_error_t *err) {
    static const uint8_t empty[1];
    *data = NULL;
    *len = 0;
    if (!v)
        return 0;
    switch (s->kind) {
    case BROOK_SERDE_STRING:
    case BROOK_SERDE_JSON:
        *data = v;
        *len = strlen(v);
        return 0;
    case BROOK_SERDE_BYTES: {
        const brook_bytes_t *b = v;
        *data = b->len ? b->data : empty;
        *len = b->len;
        return 0;
    }
    case BROOK_SERDE_AVRO: {
        scratch->len = 0;
        int rc = s->framing == BROOK_AVRO_FRAMING_CONFLUENT
                     ? brook_avro_write_confluent_header(scratch, s->schema_id)
                     : brook_avro_write_single_object_header(scratch, s->type->fingerprint);
        if (!rc)
            rc = s->type->encode(v, scratch);
        if (rc)
            return brook_error_set(err, BROOK_ERR_ENCODE, "cannot encode %s: %s", s->type->name,
                                   brook_err2str(rc));
        *data = scratch->data;
        *len = scratch->len;
        return 0;
    }
    }
    return BROOK_ERR_INVALID_ARG;
}

/* Writer schemas this thread has resolvers for; few per type, so a list does. */
typedef struct resolver_entry_s {
    uint64_t fingerprint;
    const brook_type_t *type;
    brook__avro_resolver_t *resolver;
    struct resolver_entry_s *next;
} resolver_entry_t;

/* Confluent ids this thread met: the resolver of the id's schema to the type's, or NULL when
 * the id names the type's own schema. Looked up without a lock, so only the first record of
 * an id asks the registry's cache. */
typedef struct id_entry_s {
    int32_t id;
    const brook_type_t *type;
    brook__avro_resolver_t *resolver; /* borrowed from dec->resolvers */
    struct id_entry_s *next;
} id_entry_t;

/* The resolver of `writer` (with this fingerprint) to s's type, made once per thread. */
static brook__avro_resolver_t *resolver_for(const brook__serde_t *s, brook__decoded_t *dec,
                                            uint64_t fingerprint, const char *writer,
                                            brook_error_t *err) {
    for (resolver_entry_t *e = dec->resolvers; e; e = e->next)
        if (e->fingerprint == fingerprint && e->type == s->type)
            return e->resolver;
    resolver_entry_t *e = calloc(1, sizeof(*e));
    if (!e) {
        brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    /* The canonical form drops what resolution needs (defaults, enum default, aliases). */
    const char *reader = s->type->resolution_json ? s->type->resolution_json : s->type->schema_json;
    e->resolver = brook__avro_resolver_new(writer, reader, err);
    if (!e->resolver) {
        free(e);
        return NULL;
    }
    e->fingerprint = fingerprint;
    e->type = s->type;
    e->next = dec->resolvers;
    dec->resolvers = e;
    return e->resolver;
}

static brook__avro_resolver_t *find_resolver(const brook__serde_t *s, brook__decoded_t *dec,
                                             uint64_t fingerprint, brook_error_t *err) {
    for (resolver_entry_t *e = dec->resolvers; e; e = e->next)
        if (e->fingerprint == fingerprint && e->type == s->type)
            return e->resolver;
    const char *writer = brook__types_writer(s->types, s->type->name, fingerprint);
    if (writer)
        return resolver_for(s, dec, fingerprint, writer, err);
    brook_error_set(err, BROOK_ERR_SCHEMA,
                    "unknown writer schema (fingerprint %016llx) for %s: not this type's schema "
                    "nor a declared writer schema",
                    (unsigned long long)fingerprint, s->type->name);
    return NULL;
}

/* What Confluent id `id` means for s's type on this thread: 0 with *resolver (NULL for the
 * type's own schema), or an error (BROOK_ERR_UNAVAILABLE: the registry cannot say now). */
static int id_resolver(const brook__serde_t *s, brook__decoded_t *dec, int32_t id,
                       brook__avro_resolver_t **resolver, brook_error_t *err) {
    *resolver = NULL;
    for (id_entry_t *e = dec->ids; e; e = e->next)
        if (e->id == id && e->type == s->type) {
            *resolver = e->resolver;
            return 0;
        }
    if (brook__types_schema_id_known(s->types, s->type->name, id))
        return 0;
    if (!s->types->registry)
        return brook_error_set(err, BROOK_ERR_SCHEMA,
                               "Confluent schema id %d is not known for %s (not an id of this "
                               "service's templates, and no schema_registry is declared)",
                               (int)id, s->type->name);
    char *writer = NULL;
    int rc = brook__registry_schema(s->types->registry, id, &writer, err);
    if (rc == BROOK_ERR_NOT_FOUND)
        rc = brook_error_set(err, BROOK_ERR_SCHEMA,
                             "Confluent schema id %d (for %s) is not in the schema registry",
                             (int)id, s->type->name);
    /* Only the registry's word that the id names no (Avro) schema sends the record to the
     * DLT; any other failure to ask (unreachable, credentials refused, a wrong URL) is the
     * service's to fix, and the record waits for it. */
    else if (rc && rc != BROOK_ERR_SCHEMA && rc != BROOK_ERR_NOMEM) {
        rc = BROOK_ERR_UNAVAILABLE;
        if (err)
            err->code = rc;
    }
    if (rc)
        return rc;
    uint64_t fingerprint;
    rc = brook_avro_schema_fingerprint(writer, &fingerprint, err);
    if (!rc && fingerprint != s->type->fingerprint &&
        !(*resolver = resolver_for(s, dec, fingerprint, writer, err)))
        rc = err ? err->code : BROOK_ERR_SCHEMA;
    free(writer);
    if (rc == BROOK_ERR_NOMEM)
        return rc;
    if (rc) {
        char why[sizeof(err->message)];
        snprintf(why, sizeof(why), "%s", err ? err->message : brook_err2str(rc));
        return brook_error_set(err, BROOK_ERR_SCHEMA,
                               "Confluent schema id %d cannot be read as %s: %s", (int)id,
                               s->type->name, why);
    }
    id_entry_t *e = calloc(1, sizeof(*e));
    if (!e)
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    *e = (id_entry_t){.id = id, .type = s->type, .resolver = *resolver, .next = dec->ids};
    dec->ids = e;
    return 0;
}

static int decode_avro(const brook__serde_t *s, const void *data, size_t len, brook__decoded_t *dec,
                       const void **out, brook_error_t *err) {
    brook_avro_frame_t f;
    int rc = brook_avro_parse_frame(data, len, &f, err);
    if (rc)
        return rc;
    const uint8_t *payload = f.payload;
    size_t payload_len = f.payload_len;
    brook__avro_resolver_t *r = NULL;
    /* A Confluent schema id names the writer's schema in a registry: the type's own, one of
     * its templates' ids, or one to fetch. Any other could name a schema the reader would
     * misread, so the record is refused (to the DLT). */
    if (f.framing == BROOK_AVRO_FRAMING_CONFLUENT &&
        (rc = id_resolver(s, dec, f.schema_id, &r, err)))
        return rc;
    if (f.framing == BROOK_AVRO_FRAMING_SINGLE_OBJECT && f.fingerprint != s->type->fingerprint &&
        !(r = find_resolver(s, dec, f.fingerprint, err)))
        return err ? err->code : BROOK_ERR_SCHEMA;
    if (r) {
        brook_buf_reset(&dec->resolved);
        rc = brook__avro_resolver_convert(r, payload, payload_len, &dec->resolved, err);
        if (rc)
            return rc;
        payload = dec->resolved.data;
        payload_len = dec->resolved.len;
    }
    /* Zeroed once: a type's decode clears the value first, and its clear leaves it zeroed. */
    if (!dec->value && !(dec->value = calloc(1, s->type->size)))
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    dec->value_live = true;
    rc = s->type->decode(dec->value, payload, payload_len, err);
    if (rc)
        return rc;
    *out = dec->value;
    return 0;
}

int brook__serde_decode(const brook__serde_t *s, const void *data, size_t len,
                        brook__decoded_t *dec, const void **out, brook_error_t *err) {
    *out = NULL;
    if (!data)
        return 0;
    switch (s->kind) {
    case BROOK_SERDE_BYTES:
        dec->bytes.data = (uint8_t *)data;
        dec->bytes.len = len;
        *out = &dec->bytes;
        return 0;
    case BROOK_SERDE_STRING:
    case BROOK_SERDE_JSON: {
        dec->text.len = 0;
        if (dec->text.cap <= len && brook_buf_reserve(&dec->text, len + 1))
            return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
        brook__avro_copy(dec->text.data, data, len); /* keys are short: inline */
        dec->text.data[len] = 0;
        dec->text.len = len;
        if (s->kind == BROOK_SERDE_STRING && memchr(data, 0, len))
            return brook_error_set(err, BROOK_ERR_DECODE, "string contains a NUL byte");
        if (s->kind == BROOK_SERDE_JSON) {
            json_error_t jerr;
            json_t *j = json_loadb(data, len, JSON_DECODE_ANY, &jerr);
            if (!j)
                return brook_error_set(err, BROOK_ERR_DECODE, "invalid JSON: %s at %d:%d",
                                       jerr.text, jerr.line, jerr.column);
            json_decref(j);
        }
        *out = dec->text.data;
        return 0;
    }
    case BROOK_SERDE_AVRO:
        return decode_avro(s, data, len, dec, out, err);
    }
    return BROOK_ERR_INVALID_ARG;
}

void brook__decoded_clear(const brook__serde_t *s, brook__decoded_t *dec) {
    if (dec->value_live) {
        s->type->clear(dec->value);
        dec->value_live = false;
    }
}

void brook__decoded_free(const brook__serde_t *s, brook__decoded_t *dec) {
    brook__decoded_clear(s, dec);
    free(dec->value);
    brook_buf_free(&dec->text);
    brook_buf_free(&dec->resolved);
    while (dec->ids) {
        id_entry_t *e = dec->ids;
        dec->ids = e->next;
        free(e);
    }
    while (dec->resolvers) {
        resolver_entry_t *e = dec->resolvers;
        dec->resolvers = e->next;
        brook__avro_resolver_destroy(e->resolver);
        free(e);
    }
    memset(dec, 0, sizeof(*dec));
}
