/* The type registry (serde/serde.h): generated types, older writer schemas, schema ids. */
#include <stdlib.h>
#include <string.h>

#include "brook/avro.h"
#include "serde/serde.h"
#include "serde/types.h"

brook__types_t *brook__types_new(void) {
    return calloc(1, sizeof(brook__types_t));
}

void brook__types_free(brook__types_t *t) {
    if (!t)
        return;
    for (size_t i = 0; i < t->writer_count; i++) {
        free(t->writers[i].type_name);
        free(t->writers[i].schema_json);
    }
    free(t->writers);
    free(t->types);
    free(t->ids);
    free(t);
}

const brook_type_t *brook__types_find(const brook__types_t *t, const char *name) {
    for (size_t i = 0; i < t->type_count; i++)
        if (!strcmp(t->types[i]->name, name))
            return t->types[i];
    return NULL;
}

int brook__types_add(brook__types_t *t, const brook_type_t *type) {
    if (type->magic != BROOK_TYPE_MAGIC)
        return BROOK_ERR_SCHEMA;
    const brook_type_t *known = brook__types_find(t, type->name);
    if (known == type)
        return 0;
    if (known)
        return brook__types_add_writer(t, type->name, type->schema_json, NULL);
    const brook_type_t **types = realloc(t->types, (t->type_count + 1) * sizeof(*types));
    if (!types)
        return BROOK_ERR_NOMEM;
    types[t->type_count++] = type;
    t->types = types;
    return 0;
}

int brook__types_add_writer(brook__types_t *t, const char *type_name, const char *schema_json,
                            brook_error_t *err) {
    /* Records name their writer by the fingerprint of its canonical form, whatever form the
     * schema is given in here. */
    uint64_t fingerprint;
    int rc = brook_avro_schema_fingerprint(schema_json, &fingerprint, err);
    if (rc)
        return rc;
    brook__writer_schema_t *w = realloc(t->writers, (t->writer_count + 1) * sizeof(*w));
    if (!w)
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    t->writers = w;
    w = &t->writers[t->writer_count];
    w->type_name = strdup(type_name);
    w->schema_json = strdup(schema_json);
    if (!w->type_name || !w->schema_json) {
        free(w->type_name);
        free(w->schema_json);
        return brook_error_set(err, BROOK_ERR_NOMEM, "out of memory");
    }
    w->fingerprint = fingerprint;
    t->writer_count++;
    return 0;
}

int brook__types_add_schema_id(brook__types_t *t, const char *type_name, int32_t id) {
    if (brook__types_schema_id_known(t, type_name, id))
        return 0;
    brook__schema_id_t *ids = realloc(t->ids, (t->id_count + 1) * sizeof(*ids));
    if (!ids)
        return BROOK_ERR_NOMEM;
    t->ids = ids;
    ids[t->id_count].type_name = type_name;
    ids[t->id_count].id = id;
    t->id_count++;
    return 0;
}

void brook__types_set_registry(brook__types_t *t, brook__registry_t *registry) {
    t->registry = registry;
}

const char *brook__types_writer(const brook__types_t *t, const char *type_name,
                                uint64_t fingerprint) {
    for (size_t i = 0; i < t->writer_count; i++)
        if (t->writers[i].fingerprint == fingerprint && !strcmp(t->writers[i].type_name, type_name))
            return t->writers[i].schema_json;
    return NULL;
}

bool brook__types_schema_id_known(const brook__types_t *t, const char *type_name, int32_t id) {
    for (size_t i = 0; i < t->id_count; i++)
        if (t->ids[i].id == id && !strcmp(t->ids[i].type_name, type_name))
            return true;
    return false;
}
