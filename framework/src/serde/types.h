/* Inside serde/: the type registry's layout and its lookups used by the decoders. */
#ifndef BROOK_SERDE_TYPES_H
#define BROOK_SERDE_TYPES_H

#include "serde/serde.h"

typedef struct {
    char *type_name;
    char *schema_json;
    uint64_t fingerprint;
} brook__writer_schema_t;

typedef struct {
    const char *type_name; /* borrowed from the declaration */
    int32_t id;
} brook__schema_id_t;

struct brook__types_s {
    const brook_type_t **types;
    size_t type_count;
    brook__writer_schema_t *writers;
    size_t writer_count;
    brook__schema_id_t *ids;
    size_t id_count;
    brook__registry_t *registry; /* NULL: none declared */
};

/* The writer schema of `type_name` with this fingerprint, or NULL. */
const char *brook__types_writer(const brook__types_t *t, const char *type_name,
                                uint64_t fingerprint);
bool brook__types_schema_id_known(const brook__types_t *t, const char *type_name, int32_t id);

#endif
